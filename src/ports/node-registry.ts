/** Node membership as the store keeps it, so `reeve status` in another process can see it. */
export interface NodeInfo {
  id: string;
  incarnation: string;
  /** What the node says of itself; `dead` is decided by readers from `lastSeenAt`. */
  state: 'up' | 'draining' | 'stopped';
  capacity: number;
  running: number;
  startedAt: number;
  lastSeenAt: number;
  pid: number;
  host: string;
}

export interface NodeRegistry {
  /** Upserts the node's row (one row per node id: the newest incarnation wins). */
  recordNode(info: NodeInfo): Promise<void>;
  listNodes(): Promise<NodeInfo[]>;
}
