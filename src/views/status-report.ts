import type { GateStore } from '../ports/gate-store.ts';
import type { NodeInfo, NodeRegistry } from '../ports/node-registry.ts';
import type { NotificationCounts, OutboxStore } from '../ports/outbox.ts';
import type { TaskStore } from '../ports/task-store.ts';
import type { TaskState } from '../protocol/task-states.ts';

/** A node is dead when it missed three heartbeats (one a second) without saying it stopped. */
export const DEAD_AFTER_MS = 3_000;

/**
 * DESIGN's node states are up | draining | dead; `drained` is an addition: a node that said it
 * stopped (it drained and exited 0) is not a failure an operator has to look into, as dead is.
 */
export type NodeViewState = 'up' | 'draining' | 'drained' | 'dead';

export interface StatusReport {
  mode: 'embedded' | 'cluster';
  nodes: Array<{ id: string; incarnation: string; state: NodeViewState; capacity: number; running: number; lastSeenAt: number }>;
  breakers: Array<{ key: string; state: 'closed' | 'open' | 'halfOpen'; openUntil?: number }>;
  preflight: Array<{ kind: string; ok: boolean; reason: string; checkedAt: number }>;
  counts: Partial<Record<TaskState, number>>;
  /** The notification outbox (addition to DESIGN's shape): waiting, given up, and the last delivery error. */
  notifications: NotificationCounts;
  /**
   * Cluster mode: the live node whose beacon the counts come from, and when it counted
   * (addition to DESIGN's shape). Absent when the counts were read from every task.
   */
  countsFrom?: { node: string; at: number };
}

export interface StatusOptions {
  /** Count every task in the store even in cluster mode (slow on a large bucket). */
  exact?: boolean;
}

/**
 * `reeve status --json`, in DESIGN.md's shape. In cluster mode the counts come from the
 * freshest beacon of a live node (each node counts its in-memory index, O(1)), because
 * counting in the CLI means reading every task of the bucket (~1 s per 30,000 tasks); with no
 * live node, or `exact`, the store counts them.
 */
export async function statusReport(
  store: Pick<TaskStore, 'countByState'> & NodeRegistry & GateStore & Pick<OutboxStore, 'notificationCounts'>,
  now: number,
  mode: StatusReport['mode'] = 'embedded',
  options: StatusOptions = {},
): Promise<StatusReport> {
  const records = await store.listNodes();
  const nodes = nodeViews(records, now);
  const breakers = (await store.listBreakers()).map((b) => {
    // An open breaker whose pause is over admits a probe: report it as half-open.
    const state = b.state === 'open' && b.openUntil !== undefined && now >= b.openUntil ? ('halfOpen' as const) : b.state;
    return { key: b.key, state, ...(state === 'open' && b.openUntil !== undefined ? { openUntil: b.openUntil } : {}) };
  });
  const preflight = await store.listPreflight();
  const notifications = await store.notificationCounts();
  const counted = mode === 'cluster' && !options.exact ? freshestCounts(records, now) : undefined;
  if (counted) return { mode, nodes, breakers, preflight, counts: counted.taskCounts, countsFrom: { node: counted.id, at: counted.lastSeenAt }, notifications };
  return { mode, nodes, breakers, preflight, counts: await store.countByState(), notifications };
}

/** The nodes as `reeve status` shows them: `drained` once stopped cleanly, `dead` once three heartbeats are missed. */
export function nodeViews(records: NodeInfo[], now: number): StatusReport['nodes'] {
  return records.map((n) => ({
    id: n.id,
    incarnation: n.incarnation,
    state: nodeState(n, now),
    capacity: n.capacity,
    running: n.state === 'stopped' ? 0 : n.running,
    lastSeenAt: n.lastSeenAt,
  }));
}

function nodeState(n: NodeInfo, now: number): NodeViewState {
  if (n.state === 'stopped') return 'drained';
  // `dead` in the record: a live node (or its next incarnation) recorded that it went silent.
  return n.state === 'dead' || now - n.lastSeenAt > DEAD_AFTER_MS ? 'dead' : n.state;
}

/** The live node record with task counts seen last. */
export function freshestCounts(records: NodeInfo[], now: number): (NodeInfo & { taskCounts: NonNullable<NodeInfo['taskCounts']> }) | undefined {
  let best: (NodeInfo & { taskCounts: NonNullable<NodeInfo['taskCounts']> }) | undefined;
  for (const n of records) {
    const state = nodeState(n, now);
    if (n.taskCounts === undefined || state === 'dead' || state === 'drained') continue;
    if (!best || n.lastSeenAt > best.lastSeenAt) best = { ...n, taskCounts: n.taskCounts };
  }
  return best;
}
