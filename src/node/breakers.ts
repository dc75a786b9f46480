import { BreakerBoard } from '../actors/breaker-board.ts';
import type { DispatcherDeps } from '../actors/dispatcher.ts';
import type { BreakerSettings } from '../machines/circuit-breaker.ts';
import type { Bus } from '../ports/bus.ts';
import type { Clock } from '../ports/clock.ts';
import type { GateStore } from '../ports/gate-store.ts';
import type { Inspection } from '../ports/inspection.ts';
import type { Logger } from '../ports/logger.ts';
import type { StoredTask } from '../ports/task-store.ts';
import type { Subjects } from '../protocol/subjects.ts';
import type { Releasers } from './releasers.ts';

/**
 * How stale the dispatcher's view of the breakers may be when no change was announced (changes
 * by other nodes are announced on the bus and invalidate it at once; see BreakerBoard).
 */
const BREAKER_VIEW_MAX_AGE_MS = 250;

export interface NodeBreakers {
  /** What the dispatcher asks before it claims. */
  readonly gates: DispatcherDeps['breakers'];
  /** When the key's current (or last) pause ends or ended: a probe's preflight must be newer. */
  openUntil(key: string): number | undefined;
  /** A saga actor's verdict on an attempt, fed to the task's breaker. */
  verdict(task: StoredTask, verdict: 'succeeded' | 'transient' | 'permanent' | 'none'): void;
}

/**
 * The node's circuit breakers: a BreakerBoard over the store that announces its own changes on
 * the bus and re-reads the store when another node announces one.
 */
export function nodeBreakers(o: {
  store: GateStore;
  bus: Bus;
  subjects: Subjects;
  nodeId: string;
  settings(kind: string): BreakerSettings;
  clock: Clock;
  log: Logger;
  releasers: Releasers;
  /** Live state: each breaker as an actor under the root supervisor (session `root`). */
  inspect?: { port: Inspection; root: string };
}): NodeBreakers {
  const { bus, subjects, nodeId } = o;
  const board = new BreakerBoard({
    store: o.store,
    clock: o.clock,
    log: o.log.child({ component: 'breakers' }),
    ...(o.inspect ? { inspect: { port: o.inspect.port, parentId: () => o.inspect?.root } } : {}),
    onChange: ({ key, to, openUntil, at }) => bus.publish(subjects.breaker(key), { key, state: to, ...(openUntil === undefined || to !== 'open' ? {} : { openUntil }), node: nodeId, at }),
  });
  // Any message here only makes the next claim round re-read the breakers from the store (the
  // truth), so its body needs no validation; this node's own announcements are skipped.
  const watch = bus.subscribe(subjects.breakers, (message) => {
    if ((message.data as { node?: unknown } | undefined)?.node !== nodeId) board.invalidate();
  });
  o.releasers.defer('breaker watch', () => watch.unsubscribe());
  return {
    gates: {
      refresh: () => board.refreshIfStale(BREAKER_VIEW_MAX_AGE_MS),
      gates: () => board.gates(),
      takeProbe: (task) => board.takeProbe(task.breakerKey, task.id, o.settings(task.kind)),
    },
    openUntil: (key) => board.openUntil(key),
    verdict: (task, verdict) => {
      const settings = o.settings(task.kind);
      // Never rejects: releaseProbe and report log their own failures (gating must not fail a task).
      void (verdict === 'none' ? board.releaseProbe(task.breakerKey, task.id, settings) : board.report(task.breakerKey, task.id, verdict, settings));
    },
  };
}
