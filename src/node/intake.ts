import type { ChildSpec } from '../actors/supervisor.ts';
import type { Backend } from './backend.ts';
import type { Clock } from '../ports/clock.ts';
import type { Logger } from '../ports/logger.ts';
import type { TaskStore } from '../ports/task-store.ts';
import { ClusterKinds } from '../actors/cluster-kinds.ts';
import { intakeLoopChild } from '../actors/intake-loop.ts';

export interface NodeIntakeDeps {
  backend: Pick<Backend, 'intake' | 'bus' | 'subjects'>;
  store: Pick<TaskStore, 'countQueued'>;
  dispatcher: {
    readonly inFlight: { readonly size: number };
    readonly isDraining: boolean;
    wake(): void;
    waitForWork(ms: number, signal: AbortSignal): Promise<void>;
  };
  /** This node's kinds as configured now (they change on a config reload). */
  kinds(): Iterable<string>;
  nodeId: string;
  capacity: number;
  pollIntervalMs: number;
  clock: Clock;
  log: Logger;
}

/**
 * A cluster node's intake: the loop that pulls submissions for free slots (actors/intake-loop.ts) and
 * what it needs to know about kinds, its own and those other live nodes run (actors/cluster-kinds.ts).
 * Nothing in embedded mode, which has no submission stream.
 */
export function nodeIntake(deps: NodeIntakeDeps): { children: ChildSpec[]; close(): void } {
  const { backend, dispatcher, log } = deps;
  const intake = backend.intake;
  if (!intake) return { children: [], close: () => undefined };
  const others = new ClusterKinds({ bus: backend.bus, subjects: backend.subjects, clock: deps.clock, log: log.child({ component: 'cluster-kinds' }), self: deps.nodeId });
  const mine = () => new Set(deps.kinds());
  const child = intakeLoopChild({
    pull: (max) =>
      intake.pull(
        max,
        (kind) => mine().has(kind) || others.runsElsewhere(kind),
        () => dispatcher.wake(),
        { all: () => new Set([...mine(), ...others.elsewhere()]), settled: () => others.settled() },
      ),
    bus: backend.bus,
    capacity: deps.capacity,
    running: () => dispatcher.inFlight.size,
    // Only what this node could claim: another kind's backlog (its nodes busy or gone) must not
    // stop this node taking work in.
    queued: () => deps.store.countQueued([...mine()]),
    draining: () => dispatcher.isDraining,
    wake: () => dispatcher.wake(),
    waitForWork: (ms, signal) => dispatcher.waitForWork(ms, signal),
    pollIntervalMs: deps.pollIntervalMs,
    log: log.child({ component: 'intake' }),
  });
  return { children: [child], close: () => others.close() };
}
