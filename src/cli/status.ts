import type { GateStore } from '../ports/gate-store.ts';
import type { NodeRegistry } from '../ports/node-registry.ts';
import type { TaskStore } from '../ports/task-store.ts';
import type { TaskState } from '../protocol/task-states.ts';

/** A node is dead when it missed three heartbeats (one a second) or said it stopped. */
export const DEAD_AFTER_MS = 3_000;

export interface StatusReport {
  mode: 'embedded' | 'cluster';
  nodes: Array<{ id: string; incarnation: string; state: 'up' | 'draining' | 'dead'; capacity: number; running: number; lastSeenAt: number }>;
  breakers: Array<{ key: string; state: 'closed' | 'open' | 'halfOpen'; openUntil?: number }>;
  preflight: Array<{ kind: string; ok: boolean; reason: string; checkedAt: number }>;
  counts: Partial<Record<TaskState, number>>;
}

/** `reeve status --json`, in DESIGN.md's shape. */
export async function statusReport(store: Pick<TaskStore, 'countByState'> & NodeRegistry & GateStore, now: number, mode: StatusReport['mode'] = 'embedded'): Promise<StatusReport> {
  const nodes = (await store.listNodes()).map((n) => ({
    id: n.id,
    incarnation: n.incarnation,
    state: n.state === 'stopped' || now - n.lastSeenAt > DEAD_AFTER_MS ? ('dead' as const) : n.state,
    capacity: n.capacity,
    running: n.state === 'stopped' ? 0 : n.running,
    lastSeenAt: n.lastSeenAt,
  }));
  const breakers = (await store.listBreakers()).map((b) => {
    // An open breaker whose pause is over admits a probe: report it as half-open.
    const state = b.state === 'open' && b.openUntil !== undefined && now >= b.openUntil ? ('halfOpen' as const) : b.state;
    return { key: b.key, state, ...(state === 'open' && b.openUntil !== undefined ? { openUntil: b.openUntil } : {}) };
  });
  const preflight = await store.listPreflight();
  return { mode, nodes, breakers, preflight, counts: await store.countByState() };
}
