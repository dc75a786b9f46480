import type { ChildSpec } from '../actors/supervisor.ts';
import { toError } from '../errors.ts';
import { isOutage } from './outage.ts';
import type { Bus } from '../ports/bus.ts';
import type { Logger } from '../ports/logger.ts';

export interface IntakeLoopDeps {
  /** Pulls at most `max` submissions into the store; `deferred`: the store failed, some were left for later. */
  pull(max: number): Promise<{ accepted: number; deferred: number }>;
  bus: Pick<Bus, 'status' | 'onStatus'>;
  capacity: number;
  /** Runs in flight on this node. */
  running(): number;
  /** Tasks waiting in the store (all nodes'): what was pulled but not claimed yet. */
  queued(): Promise<number>;
  draining(): boolean;
  /** New tasks exist: claim now rather than at the next poll. */
  wake(): void;
  /** Waits for a free slot or `ms` (the dispatcher's wait). */
  waitForWork(ms: number, signal: AbortSignal): Promise<void>;
  pollIntervalMs: number;
  log: Logger;
}

/**
 * Pulls submissions from the shared work-queue consumer only for free slots: what this node runs
 * plus one batch of prefetch, minus what already waits in the store. The backlog therefore stays
 * in the stream (where every node can take it) instead of piling up as queued records, and a
 * busy node leaves new work to idle ones. Idle while draining and while NATS is unreachable.
 */
export function intakeLoopChild(deps: IntakeLoopDeps): ChildSpec {
  return {
    id: 'intake',
    restart: 'permanent',
    start: () => {
      const controller = new AbortController();
      const { signal } = controller;
      const done = (async () => {
        while (!signal.aborted) {
          if (deps.draining() || deps.bus.status !== 'online') {
            await deps.waitForWork(deps.pollIntervalMs, signal);
            continue;
          }
          try {
            const free = deps.capacity * 2 - deps.running() - (await deps.queued());
            if (free <= 0) {
              await deps.waitForWork(deps.pollIntervalMs, signal);
              continue;
            }
            const { accepted, deferred } = await deps.pull(Math.min(free, 256));
            if (accepted > 0) deps.wake();
            // The store refused writes: its messages wait in the stream (nak'ed); so does the loop.
            if (deferred > 0) await deps.waitForWork(Math.max(1000, deps.pollIntervalMs), signal);
          } catch (err) {
            // An outage is not a bug: wait for NATS instead of spending the supervisor's restarts.
            if (!isOutage(err, deps.bus)) throw err;
            deps.log.warn({ err: toError(err) }, 'intake paused: NATS unreachable');
            await deps.waitForWork(deps.pollIntervalMs, signal);
          }
        }
      })();
      return {
        done,
        stop: async () => {
          controller.abort();
          await done.catch(() => undefined);
        },
      };
    },
  };
}
