import { toError } from '../errors.ts';
import type { Bus } from '../ports/bus.ts';
import type { Logger } from '../ports/logger.ts';
import type { TaskStore } from '../ports/task-store.ts';
import type { Subjects } from '../transport/subjects.ts';
import { deadLetterExcerpt } from '../store/dead-letters.ts';

/** Printable, one line, at most 200 characters: what a rejection event shows of the payload. */
export function excerptOf(raw: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const printable = raw.replace(/[\u0000-\u001f\u007f-\u009f\ufffd]/g, '?');
  return printable.length <= max ? printable : `${printable.slice(0, max - 1)}…`;
}

/**
 * The excerpt of a submission's rejected event. The store's excerpt escapes C0 controls; this
 * also escapes C1 controls, line/paragraph separators and bidi overrides, which can rewrite
 * what a terminal shows of the event.
 */
export function rejectionExcerpt(payload: string): string {
  return deadLetterExcerpt(payload).replace(/[\u0080-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A bad message that came over the wire: kept as a dead letter and reported on
 * `<prefix>.events.rejected`. Never throws (a failing dead-letter write is logged): a bad
 * message must not take anything else down with it.
 */
export async function rejectOverTheWire(deps: {
  store: Pick<TaskStore, 'addDeadLetter'>;
  bus: Pick<Bus, 'publish'>;
  subjects: Pick<Subjects, 'rejected'>;
  clock: { now(): number };
  log: Logger;
  source: string;
  code: string;
  reason: string;
  raw: string;
  id?: string;
}): Promise<void> {
  const receivedAt = deps.clock.now();
  deps.log.warn({ source: deps.source, code: deps.code, reason: deps.reason, id: deps.id }, 'rejected a message');
  await deps.store
    .addDeadLetter({ source: deps.source, code: deps.code, reason: deps.reason, payload: deps.raw, ...(deps.id === undefined ? {} : { id: deps.id }) })
    .catch((err: unknown) => deps.log.error({ err: toError(err), source: deps.source }, 'could not keep the rejected message as a dead letter'));
  deps.bus.publish(deps.subjects.rejected, { code: deps.code, reason: deps.reason, receivedAt, ...(deps.id === undefined ? {} : { id: deps.id }), excerpt: excerptOf(deps.raw) });
}
