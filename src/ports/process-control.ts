/** What the reaper needs from the OS: process identity, a search by run id, and tree kill. */
export interface ProcessIdentity {
  starttime: number;
  pgrp: number;
  session: number;
}

export interface ProcessControl {
  /** The live (non-zombie) process with this pid, or undefined. */
  identity(pid: number): ProcessIdentity | undefined;
  /** Live processes whose environment has REEVE_RUN_ID=runId (an intent whose spawn was not recorded). */
  findByRunId(runId: string): number[];
  /** SIGTERM, grace, SIGKILL, verify; never signals a protected pid. */
  killTree(target: { rootPid: number; pgid: number; sid?: number; graceMs: number }): Promise<{ survivors: Array<{ pid: number; reason: string }> }>;
}
