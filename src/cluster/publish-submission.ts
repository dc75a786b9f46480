/**
 * Submitting a task in cluster mode (`reeve submit`, the TypeScript API): one JetStream publish
 * on `<prefix>.submit`, with the task id as `Nats-Msg-Id` so that a retried publish within the
 * stream's duplicate window is dropped by the server. A re-publish after the window reaches the
 * intake, which finds the task already stored (the store is idempotent on the id).
 */
import { JetStreamApiError, type JetStreamClient } from '@nats-io/jetstream';
import { NoRespondersError, TimeoutError } from '@nats-io/transport-node';
import { ErrorCode, InvalidInputError, ReeveError, toError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import { submitMessageSchema } from '../protocol/messages.ts';
import type { SubmitRequest } from '../protocol/task.ts';
import { parseOrThrow } from '../protocol/validate.ts';
import { newTaskId } from '../store/task-id.ts';
import { systemClock } from '../platform/system-clock.ts';
import type { Subjects } from '../protocol/subjects.ts';

export interface PublishSubmissionOptions {
  /** For the generated id; default the system clock. */
  clock?: Clock;
  /** How long to wait for the stream's acknowledgement; default 5000 ms. */
  timeoutMs?: number;
}

export interface PublishedSubmission {
  /** The task id (the request's, or a generated one). */
  id: string;
  /** The server dropped it: the same id was published within the duplicate window. */
  duplicate: boolean;
  /** Stream sequence of the stored message (of the first one, for a duplicate). */
  seq: number;
}

/**
 * Validates the request (INVALID_INPUT naming each field), gives it an id when it has none, and
 * publishes it, resolving once the stream has stored it. NATS or JetStream not answering is
 * STORE_UNAVAILABLE, with what to check.
 */
export async function publishSubmission(
  js: JetStreamClient,
  subjects: Pick<Subjects, 'submit'>,
  request: SubmitRequest,
  options: PublishSubmissionOptions = {},
): Promise<PublishedSubmission> {
  const valid = parseOrThrow(submitMessageSchema, request, 'task submission');
  const id = valid.id ?? newTaskId((options.clock ?? systemClock).now());
  const body = JSON.stringify({ ...valid, id });
  const timeoutMs = options.timeoutMs ?? 5000;
  try {
    const ack = await js.publish(subjects.submit, body, { msgID: id, timeout: timeoutMs });
    return { id, duplicate: ack.duplicate, seq: ack.seq };
  } catch (err) {
    throw publishError(err, subjects.submit, id, Buffer.byteLength(body, 'utf8'), timeoutMs);
  }
}

function publishError(err: unknown, subject: string, id: string, bytes: number, timeoutMs: number): Error {
  const e = toError(err);
  const data = { id, subject };
  if (/max_payload/i.test(e.message)) {
    return new InvalidInputError('task submission', [
      { path: 'input', message: `the submission is ${bytes} bytes, over the NATS server's max_payload; pass a path or URL to large data, or raise max_payload on every nats-server` },
    ]);
  }
  // No responders: nothing captures the subject (the client calls it JetStreamNotEnabled, a class
  // its main entry point does not export).
  if (e.name === 'JetStreamNotEnabled' || err instanceof NoRespondersError) {
    return new ReeveError(
      ErrorCode.StoreUnavailable,
      `no JetStream stream answered on ${subject}: either none exists (start a Reeve node in cluster mode once: it creates the submission stream; check nats.prefix and that JetStream is enabled) or, in a cluster, its leader is being re-elected after a server failure (retry in a few seconds; the same id is deduplicated)`,
      { cause: err, data },
    );
  }
  if (err instanceof TimeoutError || /timeout/i.test(e.message)) {
    return new ReeveError(
      ErrorCode.StoreUnavailable,
      `the NATS cluster did not confirm submission ${id} within ${timeoutMs} ms: check that the servers are up and JetStream has a leader (a fresh cluster needs ~10 s); resubmitting with the same id is safe`,
      { cause: err, data },
    );
  }
  if (err instanceof JetStreamApiError) {
    return new ReeveError(ErrorCode.StoreUnavailable, `JetStream refused submission ${id} on ${subject}: ${e.message}`, { cause: err, data: { ...data, apiCode: err.code } });
  }
  return new ReeveError(ErrorCode.StoreUnavailable, `publishing submission ${id} on ${subject} failed: ${e.message}; check the NATS connection; resubmitting with the same id is safe`, {
    cause: err,
    data,
  });
}
