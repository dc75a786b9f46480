import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, isLiveStat, processesIn, readProcStat, type ProcStat } from './proc.ts';

/** What `killRunTree` needs to find and stop one run's processes. */
export interface KillRunTreeOptions {
  /**
   * Process group recorded at spawn (the child's pid when started with `detached: true`). Leave
   * it out unless the group is known to still be the run's: every member is signalled.
   */
  pgid?: number | undefined;
  /** Session recorded at spawn; with `detached: true` Node calls setsid(), so it equals `pgid`. */
  sid?: number | undefined;
  /** The spawned process; its descendants are part of the run even after they leave the group. */
  rootPid?: number | undefined;
  /**
   * Other processes known to be the run's, by pid and start time (the reaper finds them by their
   * REEVE_RUN_ID when the root is gone); their descendants are walked like the root's.
   */
  members?: ReadonlyArray<{ pid: number; starttime: number }> | undefined;
  /**
   * The root's start time from `/proc/<pid>/stat` (clock ticks since boot), when known. If given
   * and it differs, the pid was reused and its descendants are not walked. Without it, the root
   * counts only while it is still in `pgid` or `sid`.
   */
  rootStarttime?: number | undefined;
  /** How long to wait after SIGTERM before SIGKILL, in milliseconds. */
  graceMs: number;
  /** Pids never signalled, even inside the tree. This process, its parent and ancestors are added. */
  protectedPids: readonly number[];
  /** Interval between /proc walks while waiting, in milliseconds. Default 50. */
  pollMs?: number | undefined;
  log?: { warn(obj: object, msg: string): void } | undefined;
}

export interface KillReport {
  /** SIGTERM reached at least one process. */
  sigterm: boolean;
  /** SIGKILL was needed: something outlived the grace, or was found by the final walk. */
  sigkill: boolean;
  /** Processes the group signals did not settle: protected, escaped, not permitted, unkillable. */
  survivors: Array<{ pid: number; reason: string }>;
  durationMs: number;
}

/** After SIGKILL a process needs a moment to become a zombie; longer means it is stuck (state D). */
const KILL_CONFIRM_MS = 1_000;

/**
 * Stops every process of a run: SIGTERM to the group, up to `graceMs` for the run's processes
 * (group, session, and descendants of the root, zombies counting as dead) to exit, then SIGKILL
 * to the group and to each remaining process, then one more /proc walk that kills and reports
 * anything left. A process that exits during the grace is never sent SIGKILL. ESRCH is normal at
 * every step; EPERM is reported, never thrown. Protected pids, this process, its ancestors and
 * pids <= 1 are never signalled, and neither is our own process group (its members are then
 * signalled one by one).
 */
export async function killRunTree(options: KillRunTreeOptions): Promise<KillReport> {
  const started = performance.now();
  const pollMs = options.pollMs ?? 50;
  const tree = new RunTree(options);
  const report: KillReport = { sigterm: false, sigkill: false, survivors: [], durationMs: 0 };

  let living = tree.living();
  if (living.length > 0) {
    report.sigterm = tree.signal('SIGTERM', living, { everyone: false });
    living = await tree.waitGone(started + options.graceMs, pollMs);
  }
  if (living.length > 0) {
    report.sigkill = true;
    tree.signal('SIGKILL', living, { everyone: true });
    living = await tree.waitGone(performance.now() + KILL_CONFIRM_MS, pollMs);
  }
  // The last walk: an escapee forked during the kill, or one the group signal missed.
  let killedLate = false;
  for (const stat of living.length > 0 ? living : tree.living()) {
    tree.addSurvivor(stat.pid, tree.isGroupMember(stat) ? 'survived SIGKILL of the group' : 'escaped the process group');
    killedLate = tree.signalOne(stat, 'SIGKILL') || killedLate;
  }
  if (killedLate) {
    report.sigkill = true;
    for (const stat of await tree.waitGone(performance.now() + KILL_CONFIRM_MS, pollMs)) {
      tree.addSurvivor(stat.pid, `still alive after SIGKILL (state ${stat.state})`);
    }
  }
  report.survivors = tree.survivors();
  report.durationMs = Math.round(performance.now() - started);
  for (const survivor of report.survivors) options.log?.warn({ ...survivor, pgid: options.pgid }, 'run process outside the group kill');
  return report;
}

/** One run's processes as seen through /proc, remembered by pid and start time. */
class RunTree {
  private readonly pgid: number | undefined;
  private readonly sid: number | undefined;
  /** Never signalled: protected pids, this process and its ancestors, and their reasons. */
  private readonly untouchable = new Map<number, string>();
  /** Every process seen as part of the run; an escapee stays here after its parent dies. */
  private readonly seen = new Map<number, ProcStat>();
  private readonly reasons = new Map<number, string>();

  constructor(private readonly options: KillRunTreeOptions) {
    for (const pid of options.protectedPids) this.untouchable.set(pid, 'protected');
    for (const pid of ancestorsOfSelf()) this.untouchable.set(pid, pid === process.pid ? 'protected (this process)' : 'protected (an ancestor of this process)');
    const self = readProcStat(process.pid);
    this.pgid = this.usable('pgid', options.pgid, self?.pgrp);
    this.sid = this.usable('sid', options.sid, self?.session);
    const root = options.rootPid === undefined ? undefined : readProcStat(options.rootPid);
    if (root !== undefined && !this.untouchable.has(root.pid) && root.pid > 1) {
      const same = options.rootStarttime !== undefined ? root.starttime === options.rootStarttime : this.isGroupMember(root) || (this.sid !== undefined && root.session === this.sid);
      if (same) this.seen.set(root.pid, root);
    }
    for (const member of options.members ?? []) {
      const stat = readProcStat(member.pid);
      if (stat !== undefined && stat.starttime === member.starttime && !this.untouchable.has(stat.pid) && stat.pid > 1) this.seen.set(stat.pid, stat);
    }
  }

  /** Live processes of the run that may be signalled; protected ones are noted as survivors. */
  living(): ProcStat[] {
    const roots = [...this.seen.values()].filter((s) => !this.untouchable.has(s.pid) && isAlive(s.pid, s.starttime)).map((s) => s.pid);
    const found = new Map(processesIn({ pgid: this.pgid, sid: this.sid, ancestors: roots }).map((s) => [s.pid, s]));
    for (const stat of found.values()) this.seen.set(stat.pid, stat);
    const result: ProcStat[] = [];
    for (const stat of found.values()) {
      const why = this.untouchable.get(stat.pid) ?? (stat.pid <= 1 ? 'protected (init)' : undefined);
      if (why === undefined) result.push(stat);
      else this.addSurvivor(stat.pid, why);
    }
    return result;
  }

  /** Polls until no process of the run is alive or `deadline` (a performance.now() time) passes. */
  async waitGone(deadline: number, pollMs: number): Promise<ProcStat[]> {
    for (;;) {
      const living = this.living();
      const left = deadline - performance.now();
      if (living.length === 0 || left <= 0) return living;
      await sleep(Math.min(pollMs, left));
    }
  }

  /**
   * Signals the group when that is safe, then individually each process the group signal did
   * not reach (or, with `everyone`, each process). True when any process was signalled.
   */
  signal(signal: NodeJS.Signals, living: readonly ProcStat[], { everyone }: { everyone: boolean }): boolean {
    const grouped = this.signalGroup(signal, living);
    let any = grouped;
    for (const stat of living) {
      const reached = grouped && this.isGroupMember(stat);
      if (this.pgid !== undefined && !this.isGroupMember(stat)) this.addSurvivor(stat.pid, 'escaped the process group');
      if (!reached || everyone) any = this.signalOne(stat, signal) || any;
    }
    return any;
  }

  /** Signals one process after re-checking its identity, so a reused pid is left alone. */
  signalOne(stat: ProcStat, signal: NodeJS.Signals): boolean {
    if (stat.pid <= 1 || this.untouchable.has(stat.pid) || !isAlive(stat.pid, stat.starttime)) return false;
    return this.kill(stat.pid, signal);
  }

  isGroupMember(stat: ProcStat): boolean {
    return this.pgid !== undefined && stat.pgrp === this.pgid;
  }

  addSurvivor(pid: number, reason: string): void {
    if (!this.reasons.has(pid)) this.reasons.set(pid, reason);
  }

  survivors(): Array<{ pid: number; reason: string }> {
    return [...this.reasons].map(([pid, reason]) => ({ pid, reason }));
  }

  private signalGroup(signal: NodeJS.Signals, living: readonly ProcStat[]): boolean {
    if (this.pgid === undefined) return false;
    // A group signal would also reach a protected member; then every member is signalled alone.
    const shielded = processesIn({ pgid: this.pgid }).find((s) => this.untouchable.has(s.pid));
    if (shielded !== undefined) {
      this.addSurvivor(shielded.pid, this.untouchable.get(shielded.pid)!);
      return false;
    }
    if (!living.some((s) => this.isGroupMember(s))) return false;
    return this.kill(-this.pgid, signal);
  }

  /** `process.kill` where ESRCH means "already gone" and EPERM is noted; a negative target is a group. */
  private kill(target: number, signal: NodeJS.Signals): boolean {
    try {
      process.kill(target, signal);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') return false; // it exited on its own: the normal case
      if (code === 'EPERM') {
        // For a group, the members are then signalled one by one and each EPERM is reported.
        if (target < 0) this.options.log?.warn({ pgid: -target, signal }, 'not permitted to signal the process group');
        else this.addSurvivor(target, `not permitted to send ${signal} (EPERM)`);
        return false;
      }
      throw err;
    }
  }

  /** A recorded group or session is used only if it is not ours and not init's or the kernel's. */
  private usable(what: 'pgid' | 'sid', id: number | undefined, ours: number | undefined): number | undefined {
    if (id === undefined) return undefined;
    if (id > 1 && id !== ours) return id;
    this.options.log?.warn({ [what]: id, rootPid: this.options.rootPid }, `refusing to signal by ${what}: it is ours or a system one`);
    return undefined;
  }
}

/** This process and every ancestor up to init: never signalled, never walked as a tree root. */
function ancestorsOfSelf(): number[] {
  const chain: number[] = [];
  for (let pid = process.pid; pid > 1 && !chain.includes(pid); ) {
    chain.push(pid);
    const stat = readProcStat(pid);
    pid = stat === undefined || !isLiveStat(stat) ? 0 : stat.ppid;
  }
  if (!chain.includes(process.ppid)) chain.push(process.ppid);
  return chain;
}
