/** What the reaper needs from the OS: a look at the live processes, and a tree kill. */

/** One live (non-zombie) process, as the reaper judges it. */
export interface ProcessEntry {
  pid: number;
  ppid: number;
  pgrp: number;
  session: number;
  /** Start time in clock ticks since boot: with the pid, the process's identity across pid reuse. */
  starttime: number;
  /**
   * `REEVE_RUN_ID` from the process's environment: `undefined` when absent, `null` when the
   * environment is unreadable (another user's process, or a non-dumpable one such as ssh).
   */
  runId: string | null | undefined;
}

/** The processes a kill may touch; everything else is left alone. */
export interface KillTarget {
  /** Processes proven to be the run's, by pid and start time; their descendants are the run's too. */
  members: ReadonlyArray<{ pid: number; starttime: number }>;
  /** The run's process group, only when proven still the run's (then group signals are safe). */
  pgid?: number | undefined;
  /** The run's session, under the same condition. */
  sid?: number | undefined;
}

export interface ProcessControl {
  /** Every live process on the host, with its run marker. */
  snapshot(): ProcessEntry[];
  /**
   * One wave for all targets: SIGTERM to each, one grace of `graceMs` for all, SIGKILL to what
   * is left, verify; never signals a protected pid. One result per target, in order.
   */
  killTrees(targets: readonly KillTarget[], graceMs: number): Promise<Array<{ survivors: Array<{ pid: number; reason: string }> }>>;
  /** This boot of the host (`/proc/sys/kernel/random/boot_id`); pids and start times mean nothing across boots. */
  bootId(): string | undefined;
}
