import type { TaskState } from '../protocol/task-states.ts';

/** Node membership as the store keeps it, so `reeve status` in another process can see it. */
export interface NodeInfo {
  id: string;
  incarnation: string;
  /**
   * What the node says of itself; readers also count it dead from `lastSeenAt`. `dead` is written
   * by another process that found it silent (markNodeDead, with its `node.dead` notification).
   */
  state: 'up' | 'draining' | 'stopped' | 'dead';
  capacity: number;
  running: number;
  startedAt: number;
  lastSeenAt: number;
  pid: number;
  host: string;
  /**
   * Tasks per state as this node's store counted them when it wrote this record (cluster
   * nodes: their in-memory index, O(1)), so `reeve status` need not read every task.
   */
  taskCounts?: Partial<Record<TaskState, number>>;
}

export interface NodeRegistry {
  /** Upserts the node's row (one row per node id: the newest incarnation wins). */
  recordNode(info: NodeInfo): Promise<void>;
  listNodes(): Promise<NodeInfo[]>;
}
