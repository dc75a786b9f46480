import { toError } from '../errors.ts';
import { payloadExcerpt } from '../protocol/excerpt.ts';
import type { Bus } from '../ports/bus.ts';
import type { Logger } from '../ports/logger.ts';
import type { TaskStore } from '../ports/task-store.ts';
import type { Subjects } from '../protocol/subjects.ts';

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
  deps.bus.publish(deps.subjects.rejected, { code: deps.code, reason: deps.reason, receivedAt, ...(deps.id === undefined ? {} : { id: deps.id }), excerpt: payloadExcerpt(deps.raw) });
}
