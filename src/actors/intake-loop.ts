import type { ChildSpec } from './supervisor.ts';
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
  /** Tasks of this node's kinds waiting in the store: what was pulled but not claimed yet. */
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
 * How many submissions to pull now: room for what this node runs plus one batch of prefetch
 * (2 x capacity), minus what already waits in the store. While work is still waiting, the
 * prefetch is topped up only once half a batch is missing: each pull is a JetStream request
 * (~8 % of a node's CPU with I/O-bound tasks when every finished run pulled its one
 * replacement), and a node with queued work loses nothing by waiting for a few more slots.
 */
export function submissionsToPull(capacity: number, running: number, queued: number): number {
  const room = capacity * 2 - running - queued;
  if (room <= 0) return 0;
  if (queued > 0 && room < Math.ceil(capacity / 2)) return 0;
  return Math.min(room, 256);
}

/**
 * Pulls submissions from the shared work-queue consumer only for free slots (see
 * submissionsToPull). The backlog therefore stays in the stream (where every node can take it)
 * instead of piling up as queued records, and a busy node leaves new work to idle ones. Idle
 * while draining and while NATS is unreachable.
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
            const want = submissionsToPull(deps.capacity, deps.running(), await deps.queued());
            if (want === 0) {
              await deps.waitForWork(deps.pollIntervalMs, signal);
              continue;
            }
            const { accepted, deferred } = await deps.pull(want);
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
