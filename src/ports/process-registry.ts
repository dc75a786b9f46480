/**
 * The durable record of every process a node spawns, written *before* the spawn, so that a
 * crash at any moment leaves enough behind for the reaper. Local to the machine: a node's
 * processes live on its host, whatever the task store is.
 */
export interface ProcessRow {
  /** One per spawn; also set as REEVE_RUN_ID in the process's environment. */
  runId: string;
  taskId: string;
  nodeId: string;
  incarnation: string;
  /** intent: about to spawn; spawned: pid known; handoff: the dispatch failed after spawn. */
  state: 'intent' | 'spawned' | 'handoff';
  pid?: number;
  pgid?: number;
  sid?: number;
  /** From /proc/<pid>/stat: with the pid, the process's identity (detects pid reuse). */
  starttime?: number;
  command: string;
  createdAt: number;
  /** The host's boot when the row was written; absent in rows written before Reeve recorded it. */
  bootId?: string;
}

export interface ProcessRegistry {
  recordIntent(row: Pick<ProcessRow, 'runId' | 'taskId' | 'nodeId' | 'incarnation' | 'command'>): Promise<void>;
  recordSpawned(runId: string, identity: { pid: number; pgid: number; sid: number; starttime: number }): Promise<void>;
  /** The run's tree could not be confirmed gone: leave it to the reaper (never deletes a row). */
  markHandoff(runId: string): Promise<void>;
  clear(runId: string): Promise<void>;
  /**
   * Notes that only processes that cannot be proven the run's are left of this row (the first
   * call stamps the time) and returns for how long that has been so, in milliseconds.
   */
  unprovenFor(runId: string): Promise<number>;
  list(): Promise<ProcessRow[]>;
  close(): Promise<void>;
}
