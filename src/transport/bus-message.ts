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

/**
 * A received message whose body is parsed on first access to `data` or `error`, once, for this
 * subscriber only (each subscriber still gets its own copy). A subscriber that only passes the
 * text on (the event feed, per window) never pays for a parse it does not use.
 */
class ReceivedMessage implements BusMessage {
  declare reply?: string;
  #data: unknown;
  #error: Error | undefined;
  #parsed = false;

  constructor(
    readonly subject: string,
    readonly raw: string,
    reply: string | undefined,
  ) {
    if (reply) this.reply = reply;
  }

  get data(): unknown {
    if (!this.#parsed) this.#parse();
    return this.#data;
  }

  set data(value: unknown) {
    this.#parsed = true;
    this.#data = value;
  }

  get error(): Error | undefined {
    if (!this.#parsed) this.#parse();
    return this.#error;
  }

  #parse(): void {
    this.#parsed = true;
    try {
      this.#data = JSON.parse(this.raw) as unknown;
    } catch (thrown) {
      this.#error = new InvalidInputError(`message on ${this.subject}`, [{ path: '(body)', message: `is not JSON: ${toError(thrown).message}` }]);
    }
  }

  /** What a test's diff or a log shows: the parsed fields, as an eagerly parsed message had them. */
  toJSON(): object {
    return { subject: this.subject, data: this.data, raw: this.raw, ...(this.error ? { error: this.error } : {}), ...(this.reply ? { reply: this.reply } : {}) };
  }
}

/** A body that is not JSON is reported in `error` (on first access), never thrown. */
export function decodeMessage(subject: string, raw: string, reply: string | undefined): BusMessage {
  return new ReceivedMessage(subject, raw, reply);
}

/** A request's subject, timeout and body checked and encoded (both buses refuse the same things). */
export function encodeRequest(subject: string, data: unknown, timeoutMs: number): string {
  assertPublishSubject(subject);
  if (!(Number.isFinite(timeoutMs) && timeoutMs > 0)) {
    throw new InvalidInputError('request', [{ path: 'timeoutMs', message: `expected a positive number of ms, got ${timeoutMs}` }]);
  }
  return encodePayload(subject, data);
}
