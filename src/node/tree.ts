import type { Dispatcher } from '../actors/dispatcher.ts';
import { renewLeases } from '../actors/lease-keeper.ts';
import { loopChild } from '../actors/loop-child.ts';
import { outageTolerant } from '../actors/outage.ts';
import type { PreflightGate } from '../actors/preflight-gate.ts';
import { sweepStaleLeases } from '../actors/stale-sweeper.ts';
import { startRootSupervisor, type ChildSpec, type Supervisor } from '../actors/supervisor.ts';
import { toError } from '../errors.ts';
import { realTimers } from '../platform/system-clock.ts';
import type { Bus } from '../ports/bus.ts';
import type { Clock } from '../ports/clock.ts';
import type { Inspection } from '../ports/inspection.ts';
import type { Logger } from '../ports/logger.ts';
import type { ReeveStore } from '../ports/reeve-store.ts';
import { dispatcherChild } from './dispatch.ts';
import type { LiveConfig } from './live-config.ts';

export interface NodeTreeDeps {
  live: LiveConfig;
  store: ReeveStore;
  bus: Bus;
  owner: string;
  dispatcher: Dispatcher;
  /** The `sagas` supervisor (see NodeSagas). */
  sagas: ChildSpec;
  /** Cluster only: the submission intake (see intake.ts). */
  intake: ChildSpec[];
  /** More store loops (the notifier): each skipped while NATS is down, its tick stopped by the signal. */
  loops?: ReadonlyArray<{ id: string; intervalMs: number; tick(signal: AbortSignal): Promise<void> }>;
  preflight: PreflightGate;
  reap(): Promise<unknown>;
  beacon(): Promise<void>;
  onEscalate: (err: Error) => void;
  clock: Clock;
  log: Logger;
  /** Live state: the root's session id and the port the tree reports to. */
  inspect?: { port: Inspection; root: string };
}

/** Starts the node's supervision tree (docs/ARCHITECTURE.md, "Supervision tree"). */
export function startNodeTree(d: NodeTreeDeps): Promise<Supervisor> {
  const { live, store, bus, dispatcher, log } = d;
  const config = live.config;
  const warnOutage = (component: string) => (err: unknown) => log.warn({ err: toError(err), component }, 'store unreachable; skipping this round');
  /** A loop that touches the store: skipped while NATS is unreachable, an outage is not a crash. */
  const storeLoop = (id: string, intervalMs: number, tick: () => Promise<void>) => loopChild({ id, intervalMs, timers: realTimers, tick: outageTolerant(bus, warnOutage(id), tick) });
  return startRootSupervisor({
    id: 'root',
    spec: { strategy: 'one_for_one', intensity: { maxRestarts: 10, periodMs: 60_000 }, backoff: { baseMs: 100, maxMs: 5_000 } },
    log,
    clock: d.clock,
    timers: realTimers,
    onEscalate: d.onEscalate,
    ...(d.inspect ? { inspection: d.inspect.port, sessionId: d.inspect.root } : {}),
    children: [
      // Started before the sagas so they stop after them: a run that takes a while to stop on
      // drain keeps its lease (and can write its handback) until it has stopped.
      loopChild({ id: 'lease-keeper', intervalMs: Math.max(100, Math.floor(config.node.leaseTtlMs / 3)), timers: realTimers, tick: () => renewLeases(dispatcher.inFlight, log.child({ component: 'lease-keeper' })) }),
      storeLoop('cancel-watch', Math.max(100, config.node.pollIntervalMs), async () => {
        if (dispatcher.inFlight.size === 0) return;
        for (const { id: taskId, reason } of await store.listCancelRequests(d.owner)) dispatcher.inFlight.get(taskId)?.requestCancel(reason);
      }),
      d.sagas,
      dispatcherChild(dispatcher, { bus, pollIntervalMs: () => live.config.node.pollIntervalMs, warnOutage: warnOutage('dispatcher') }),
      ...d.intake,
      storeLoop('stale-sweeper', config.node.sweepIntervalMs, async () => {
        await sweepStaleLeases(store, (kind) => live.crashLimit(kind), log.child({ component: 'sweeper' }));
      }),
      loopChild({
        id: 'reaper',
        intervalMs: config.node.reapIntervalMs,
        timers: realTimers,
        tick: async () => {
          await d.reap();
        },
      }),
      storeLoop('preflight', 1000, () => d.preflight.tick()),
      storeLoop('beacon', 1000, () => d.beacon()),
      ...(d.loops ?? []).map((l) => loopChild({ id: l.id, intervalMs: l.intervalMs, timers: realTimers, tick: (signal) => outageTolerant(bus, warnOutage(l.id), () => l.tick(signal))() })),
    ],
  });
}
