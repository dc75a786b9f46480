/**
 * Notifications, wired into a node (issue 14): what the store records (the `notify` config's
 * events), the delivery loop that sends the outbox to the webhooks and commands, and the watch
 * that records dead nodes. Kept apart from the rest of the composition root so it moves as one.
 */
import { deliverNotifications, DELIVERY_BATCH, type NotifierDeps } from '../actors/notifier.ts';
import { noticeDeadNodes, noticeDeadPredecessor } from '../actors/node-watch.ts';
import type { Config } from '../config/schema.ts';
import { notifyEvents } from '../config/notify-schema.ts';
import { toError } from '../errors.ts';
import { buildSinks } from '../notify/sinks.ts';
import type { Clock } from '../ports/clock.ts';
import type { Logger } from '../ports/logger.ts';
import type { MetricsPort } from '../ports/metrics.ts';
import type { NotifySink } from '../ports/notify-sink.ts';
import type { ReeveStore } from '../ports/reeve-store.ts';
import type { NotifyEvent } from '../protocol/notification.ts';
import { DEAD_AFTER_MS } from '../views/status-report.ts';

/** Given-up notifications are kept this long for `reeve status`, then purged. */
const KEEP_FAILED_MS = 7 * 24 * 60 * 60 * 1000;
const PURGE_EVERY_MS = 60 * 60 * 1000;
/** How often the node list is read for nodes that went silent. */
const NODE_WATCH_EVERY_MS = 1_000;

export interface NotificationsWiring {
  /** The delivery loop, for the root supervisor (see tree.ts `loops`). */
  loops(): Array<{ id: string; intervalMs: number; tick(signal: AbortSignal): Promise<void> }>;
  /** Before the first beacon replaces it: records a previous incarnation that died without stopping. Never throws. */
  beforeFirstBeacon(): Promise<void>;
  /** A SIGHUP reload: new rules, events and delivery settings for the next round. */
  reconfigure(config: Config): void;
}

export function wireNotifications(options: { config: Config; store: ReeveStore; id: string; incarnation: string; owner: string; clock: Clock; log: Logger; metrics: MetricsPort }): NotificationsWiring {
  const { store, id, incarnation, owner, clock, metrics } = options;
  const log = options.log.child({ component: 'notifier' });
  let config = options.config;
  let sinks: NotifySink[] = [];
  let events = new Set<NotifyEvent>();
  const apply = (next: Config) => {
    config = next;
    sinks = buildSinks(next.notify, { envAllowList: next.node.envAllowList, secrets: next.secrets });
    events = new Set(notifyEvents(next.notify));
    store.recordNotifications({ node: id, events: [...events] });
  };
  apply(config);

  const deps: NotifierDeps = {
    store,
    owner,
    deadOwnerPrefix: `${id}:`,
    clock,
    log,
    sinks: () => sinks,
    settings: () => config.notifyDelivery,
    onOutcome: (event, outcome) => metrics.notification(event, outcome),
  };
  let watchedAt = Number.NEGATIVE_INFINITY;
  let purgedAt = Number.NEGATIVE_INFINITY;
  const tick = async (signal: AbortSignal) => {
    const now = clock.now();
    if (events.has('node.dead') && now - watchedAt >= NODE_WATCH_EVERY_MS) {
      watchedAt = now;
      await noticeDeadNodes(store, { id }, now, DEAD_AFTER_MS, log);
    }
    // A node with no rules claims nothing: what another node recorded is left for a node that can send it.
    if (sinks.length === 0) return;
    while (!signal.aborted && (await deliverNotifications(deps, signal)) === DELIVERY_BATCH);
    if (now - purgedAt >= PURGE_EVERY_MS) {
      purgedAt = now;
      await store.purgeNotifications(now - KEEP_FAILED_MS);
    }
  };
  return {
    loops: () => [{ id: 'notifier', intervalMs: config.notifyDelivery.pollIntervalMs, tick }],
    beforeFirstBeacon: () =>
      events.has('node.dead')
        ? noticeDeadPredecessor(store, { id, incarnation }, clock.now(), log).catch((err: unknown) => log.warn({ err: toError(err) }, 'could not check how the previous incarnation ended'))
        : Promise.resolve(),
    reconfigure: apply,
  };
}
