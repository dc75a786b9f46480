import { ErrorCode, toError } from '../errors.ts';
import { backoffDelay } from '../machines/backoff.ts';
import type { Clock } from '../ports/clock.ts';
import type { Logger } from '../ports/logger.ts';
import type { NotifySink } from '../ports/notify-sink.ts';
import type { OutboxEntry, OutboxStore } from '../ports/outbox.ts';
import type { NotifyEvent } from '../protocol/notification.ts';

export interface DeliverySettings {
  firstDelayMs: number;
  maxDelayMs: number;
  giveUpAfterMs: number;
  timeoutMs: number;
}

export type DeliveryOutcome = 'delivered' | 'retried' | 'failed';

export interface NotifierDeps {
  store: Pick<OutboxStore, 'claimNotifications' | 'settleNotification'>;
  /** `nodeId:incarnation`: who holds the claimed entries. */
  owner: string;
  /** `nodeId:`: entries an earlier incarnation of this node held are taken back at once. */
  deadOwnerPrefix?: string;
  clock: Clock;
  log: Logger;
  /** The current sinks and settings (a config reload changes them between rounds). */
  sinks(): readonly NotifySink[];
  settings(): DeliverySettings;
  /** One delivery round's result per notification (metrics). */
  onOutcome?(event: NotifyEvent, outcome: DeliveryOutcome): void;
}

/** Entries one round claims at most; the loop goes again at once when a round was full. */
export const DELIVERY_BATCH = 32;
/** A claim outlives the slowest delivery (all sinks of an entry run together) by this much. */
const LEASE_MARGIN_MS = 10_000;

/**
 * One delivery round: claims due outbox entries (leased, so one node of a cluster delivers
 * each), sends each to every sink that wants its event and does not have it yet, all at once,
 * and settles it: delivered, retried after the shared backoff (`firstDelayMs` doubling up to
 * `maxDelayMs`), or given up once `giveUpAfterMs` have passed since the event. Returns how many
 * it claimed. Delivery is at least once: a node that dies mid-round leaves its claims to expire
 * and be delivered again, and the receiver deduplicates on the notification's `id`.
 */
export async function deliverNotifications(deps: NotifierDeps, signal?: AbortSignal): Promise<number> {
  const settings = deps.settings();
  const entries = await deps.store.claimNotifications({
    owner: deps.owner,
    limit: DELIVERY_BATCH,
    leaseTtlMs: settings.timeoutMs + LEASE_MARGIN_MS,
    ...(deps.deadOwnerPrefix === undefined ? {} : { deadOwnerPrefix: deps.deadOwnerPrefix }),
  });
  await Promise.all(entries.map((entry) => deliverOne(deps, settings, entry, signal)));
  return entries.length;
}

async function deliverOne(deps: NotifierDeps, settings: DeliverySettings, entry: OutboxEntry, stop: AbortSignal | undefined): Promise<void> {
  const { notification } = entry;
  const wanted = deps.sinks().filter((sink) => sink.events.has(notification.event));
  const todo = wanted.filter((sink) => !entry.delivered.includes(sink.key));
  const log = deps.log.child({ notificationId: entry.id, event: notification.event });
  if (wanted.length === 0) log.warn({}, 'no notify rule on this node wants this event any more; dropping the notification');
  const body = JSON.stringify(notification);
  const signal = stop ? AbortSignal.any([stop, AbortSignal.timeout(settings.timeoutMs)]) : AbortSignal.timeout(settings.timeoutMs);
  const results = await Promise.allSettled(todo.map((sink) => sink.send(body, notification, signal)));
  const delivered = [...entry.delivered];
  const errors: string[] = [];
  results.forEach((result, i) => {
    if (result.status === 'fulfilled') delivered.push(todo[i]!.key);
    else errors.push(toError(result.reason).message);
  });
  const base = { id: entry.id, owner: deps.owner, revision: entry.revision };
  const now = deps.clock.now();
  let outcome: DeliveryOutcome;
  try {
    if (errors.length === 0) {
      outcome = 'delivered';
      await deps.store.settleNotification({ ...base, outcome });
      log.debug({ sinks: todo.map((s) => s.label) }, 'notification delivered');
    } else if (now - notification.at >= settings.giveUpAfterMs) {
      outcome = 'failed';
      const error = `gave up after ${entry.attempts + 1} attempts: ${errors.join('; ')}`;
      await deps.store.settleNotification({ ...base, outcome, delivered, error });
      log.error({ attempts: entry.attempts + 1, error }, 'notification given up');
    } else {
      outcome = 'retried';
      const delayMs = backoffDelay(entry.attempts, { firstMs: settings.firstDelayMs, maxMs: settings.maxDelayMs });
      await deps.store.settleNotification({ ...base, outcome: 'retry', delivered, nextAttemptAt: now + delayMs, error: errors.join('; ') });
      log.warn({ attempt: entry.attempts + 1, retryInMs: delayMs, error: errors.join('; ') }, 'notification delivery failed; retrying');
    }
  } catch (err) {
    // Its lease ran out during the round and another node has it now: it delivers it (again).
    if ((err as { code?: string }).code === ErrorCode.LeaseLost) return log.warn({ err: toError(err) }, 'notification claim lost while delivering');
    throw err;
  }
  deps.onOutcome?.(notification.event, outcome);
}
