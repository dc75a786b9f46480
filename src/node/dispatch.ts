import { Dispatcher } from '../actors/dispatcher.ts';
import { outageTolerant } from '../actors/outage.ts';
import type { PreflightGate } from '../actors/preflight-gate.ts';
import type { SagaActor } from '../actors/saga-actor.ts';
import type { ChildSpec } from '../actors/supervisor.ts';
import type { Bus } from '../ports/bus.ts';
import type { Clock } from '../ports/clock.ts';
import type { Logger } from '../ports/logger.ts';
import type { StoredTask, TaskStore } from '../ports/task-store.ts';
import type { NodeBreakers } from './breakers.ts';
import type { LiveConfig } from './live-config.ts';

/** Gives a held task back: its lease released, a running one queued again, nothing charged. */
export function handBackWith(store: Pick<TaskStore, 'transition'>, owner: string, clock: Clock): (task: StoredTask, reason: string) => Promise<void> {
  return async (task, reason) => {
    await store.transition({ id: task.id, revision: task.revision, owner, to: task.state === 'running' ? 'queued' : task.state, reason, release: true, availableAt: clock.now() });
  };
}

/** The node's dispatcher: claims for free slots, within the breakers and the preflight checks. */
export function nodeDispatcher(o: {
  store: TaskStore;
  owner: string;
  live: LiveConfig;
  breakers: NodeBreakers;
  preflight: PreflightGate;
  handBack: (task: StoredTask, reason: string) => Promise<void>;
  startSaga: (task: StoredTask) => SagaActor;
  log: Logger;
}): Dispatcher {
  const { config } = o.live;
  return new Dispatcher({
    store: o.store,
    owner: o.owner,
    leaseTtlMs: config.node.leaseTtlMs,
    concurrency: config.node.concurrency,
    plans: () => o.live.plans,
    breakers: o.breakers.gates,
    kindReady: (kind) => o.preflight.ready(kind),
    probeReady: (kind, key) => o.preflight.readyForProbe(kind, o.breakers.openUntil(key) ?? 0),
    release: o.handBack,
    log: o.log.child({ component: 'dispatcher' }),
    startSaga: o.startSaga,
  });
}

/**
 * The dispatcher's claim loop as a permanent child. It runs until stopped, idle while draining
 * or while NATS is down (claims pause, and resume on reconnect without a restart): a permanent
 * child must not exit on its own.
 */
export function dispatcherChild(dispatcher: Dispatcher, o: { bus: Bus; pollIntervalMs(): number; warnOutage: (err: unknown) => void }): ChildSpec {
  return {
    id: 'dispatcher',
    restart: 'permanent',
    start: () => {
      const controller = new AbortController();
      const claimRound = outageTolerant(o.bus, o.warnOutage, async () => {
        await dispatcher.tick();
      });
      const done = (async () => {
        while (!controller.signal.aborted) {
          if (!dispatcher.isDraining) await claimRound();
          await dispatcher.waitForWork(o.pollIntervalMs(), controller.signal);
        }
      })();
      return {
        done,
        stop: async () => {
          controller.abort();
          dispatcher.wake();
          await done.catch(() => undefined);
        },
      };
    },
  };
}
