import { InvalidInputError, toError } from '../errors.ts';
import type { BusMessage } from '../ports/bus.ts';
import { assertPublishSubject } from './subject-pattern.ts';

/**
 * JSON in and out, the same way on both buses: the publisher's value is serialised once, at
 * publish time, and every subscriber parses its own copy, so no one can mutate anyone else's
 * object and the in-process bus behaves like NATS.
 */

/** `undefined` travels as `null` (JSON has no undefined); a value JSON cannot hold is refused. */
export function encodePayload(subject: string, data: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(data === undefined ? null : data);
  } catch (thrown) {
    throw new InvalidInputError(`payload for ${subject}`, [{ path: 'data', message: `is not JSON-serialisable: ${toError(thrown).message}` }]);
  }
  // A function or symbol at the top level stringifies to undefined.
  if (text === undefined) throw new InvalidInputError(`payload for ${subject}`, [{ path: 'data', message: `is not JSON-serialisable (got ${typeof data})` }]);
  return text;
}

/** Parses a body; a body that is not JSON is reported in `error`, never thrown. */
export function decodeMessage(subject: string, raw: string, reply: string | undefined): BusMessage {
  const message: BusMessage = { subject, data: undefined, raw };
  if (reply) message.reply = reply;
  try {
    message.data = JSON.parse(raw) as unknown;
  } catch (thrown) {
    message.error = new InvalidInputError(`message on ${subject}`, [{ path: '(body)', message: `is not JSON: ${toError(thrown).message}` }]);
  }
  return message;
}

/** A request's subject, timeout and body checked and encoded (both buses refuse the same things). */
export function encodeRequest(subject: string, data: unknown, timeoutMs: number): string {
  assertPublishSubject(subject);
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new InvalidInputError('request', [{ path: 'timeoutMs', message: `expected a positive number of ms, got ${timeoutMs}` }]);
  }
  return encodePayload(subject, data);
}
