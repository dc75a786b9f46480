import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive, isLiveStat, liveProcesses, readProcStat, selectProcesses, type ProcStat } from './proc.ts';

/** One run to stop: its proven processes, and its group / session when proven still the run's. */
export interface RunTreeTarget {
  /**
   * Processes known to be the run's, by pid and start time (the root, or what the reaper found
   * by REEVE_RUN_ID): they and their descendants are the run's. One of them alive in the group
   * (or session) is what makes the group (session) safe to walk and to signal.
   */
  members: ReadonlyArray<{ pid: number; starttime: number }>;
  /**
   * Process group recorded at spawn (the child's pid when started with `detached: true`). Only
   * used while a member vouches for it (see `members`): a group whose members all died may
   * have had its number handed to someone else.
   */
  pgid?: number | undefined;
  /** Session recorded at spawn; with `detached: true` Node calls setsid(), so it equals `pgid`. */
  sid?: number | undefined;
}

export interface KillOptions {
  /** How long to wait after SIGTERM before SIGKILL, in milliseconds (one grace for all trees). */
  graceMs: number;
  /** Pids never signalled, even inside a tree. This process, its parent and ancestors are added. */
  protectedPids: readonly number[];
  /** Interval between /proc walks while waiting, in milliseconds. Default 50. */
  pollMs?: number | undefined;
  log?: { warn(obj: object, msg: string): void } | undefined;
}

/** What `killRunTree` needs to find and stop one run's processes. */
export type KillRunTreeOptions = RunTreeTarget & KillOptions;

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

/** Stops every process of one run: `killRunTrees` with a single tree. */
export async function killRunTree(options: KillRunTreeOptions): Promise<KillReport> {
  return (await killRunTrees([options], options))[0]!;
}

/**
 * Stops every process of many runs in one wave: SIGTERM to every tree, one grace of up to
 * `graceMs` for all of them (group, session, and descendants of the members, zombies counting as
 * dead; one /proc pass per poll for all trees), then SIGKILL to each tree's group and remaining
 * processes, then one more walk that kills and reports anything left. A process that exits
 * during the grace is never sent SIGKILL. Before every group signal a member must still be alive
 * in the group (pid + start time, re-read just then): if every member died meanwhile the number
 * may belong to someone else, and the tree's processes are then signalled one by one. ESRCH is
 * normal; EPERM is reported, never thrown. Protected pids, this process, its ancestors and
 * pids <= 1 are never signalled, and neither is our own process group or session.
 */
export async function killRunTrees(targets: readonly RunTreeTarget[], options: KillOptions): Promise<KillReport[]> {
  const started = performance.now();
  const pollMs = options.pollMs ?? 50;
  const untouchable = untouchables(options.protectedPids);
  const trees = targets.map((target) => new RunTree(target, untouchable, options.log));
  const reports: KillReport[] = trees.map(() => ({ sigterm: false, sigkill: false, survivors: [], durationMs: 0 }));

  let living = livingOf(trees);
  trees.forEach((tree, i) => {
    if (living[i]!.length > 0) reports[i]!.sigterm = tree.signal('SIGTERM', living[i]!, { everyone: false });
  });
  living = await waitGone(trees, living, started + options.graceMs, pollMs);
  trees.forEach((tree, i) => {
    if (living[i]!.length === 0) return;
    reports[i]!.sigkill = true;
    tree.signal('SIGKILL', living[i]!, { everyone: true });
  });
  if (living.some((l) => l.length > 0)) living = await waitGone(trees, livingOf(trees), performance.now() + KILL_CONFIRM_MS, pollMs);
  // The last walk: an escapee forked during the kill, or one the group signal missed.
  const last = livingOf(trees);
  const killedLate = trees.map((tree, i) => {
    let any = false;
    for (const stat of living[i]!.length > 0 ? living[i]! : last[i]!) {
      tree.addSurvivor(stat.pid, tree.isGroupMember(stat) ? 'survived SIGKILL of the group' : 'escaped the process group');
      any = tree.signalOne(stat, 'SIGKILL') || any;
    }
    if (any) reports[i]!.sigkill = true;
    return any;
  });
  if (killedLate.some(Boolean)) {
    const stuck = await waitGone(trees, livingOf(trees), performance.now() + KILL_CONFIRM_MS, pollMs);
    trees.forEach((tree, i) => {
      if (killedLate[i]) for (const stat of stuck[i]!) tree.addSurvivor(stat.pid, `still alive after SIGKILL (state ${stat.state})`);
    });
  }
  const durationMs = Math.round(performance.now() - started);
  return trees.map((tree, i) => {
    const report = { ...reports[i]!, survivors: tree.survivors(), durationMs };
    for (const survivor of report.survivors) options.log?.warn({ ...survivor, pgid: targets[i]!.pgid }, 'run process outside the group kill');
    return report;
  });
}

/** Each tree's living processes, from one /proc pass. */
function livingOf(trees: readonly RunTree[]): ProcStat[][] {
  if (trees.length === 0) return [];
  const all = liveProcesses();
  return trees.map((tree) => tree.living(all));
}

/** Polls until no process of any tree is alive or `deadline` (a performance.now() time) passes. */
async function waitGone(trees: readonly RunTree[], living: ProcStat[][], deadline: number, pollMs: number): Promise<ProcStat[][]> {
  for (;;) {
    const left = deadline - performance.now();
    if (living.every((l) => l.length === 0) || left <= 0) return living;
    await sleep(Math.min(pollMs, left));
    living = livingOf(trees);
  }
}

/** Never signalled: protected pids, this process and its ancestors, with their reasons. */
function untouchables(protectedPids: readonly number[]): ReadonlyMap<number, string> {
  const untouchable = new Map<number, string>();
  for (const pid of protectedPids) untouchable.set(pid, 'protected');
  for (const pid of ancestorsOfSelf()) untouchable.set(pid, pid === process.pid ? 'protected (this process)' : 'protected (an ancestor of this process)');
  return untouchable;
}

/** One run's processes as seen through /proc, remembered by pid and start time. */
class RunTree {
  private readonly pgid: number | undefined;
  private readonly sid: number | undefined;
  /** Every process seen as part of the run; an escapee stays here after its parent dies. */
  private readonly seen = new Map<number, ProcStat>();
  private readonly reasons = new Map<number, string>();
  /** A protected process seen in the group by the last walk: the group is then never signalled. */
  private shielded: number | undefined;

  constructor(
    target: RunTreeTarget,
    private readonly untouchable: ReadonlyMap<number, string>,
    private readonly log: KillOptions['log'],
  ) {
    const self = readProcStat(process.pid);
    this.pgid = this.usable('pgid', target.pgid, self?.pgrp);
    this.sid = this.usable('sid', target.sid, self?.session);
    for (const member of target.members) {
      const stat = readProcStat(member.pid);
      if (stat !== undefined && isLiveStat(stat) && stat.starttime === member.starttime && !this.untouchable.has(stat.pid) && stat.pid > 1) this.seen.set(stat.pid, stat);
    }
  }

  /**
   * Live processes of the run that may be signalled, from `all` (one /proc pass): the seen ones
   * and their descendants, and the group / session while a seen process vouches for it there.
   * Protected ones are noted as survivors.
   */
  living(all: readonly ProcStat[]): ProcStat[] {
    const byPid = new Map(all.map((s) => [s.pid, s]));
    const alive = [...this.seen.values()].flatMap((s) => {
      const now = byPid.get(s.pid);
      return now !== undefined && now.starttime === s.starttime ? [now] : [];
    });
    const pgid = this.pgid !== undefined && alive.some((s) => s.pgrp === this.pgid) ? this.pgid : undefined;
    const sid = this.sid !== undefined && alive.some((s) => s.session === this.sid) ? this.sid : undefined;
    const found = selectProcesses(all, { pgid, sid, ancestors: alive.filter((s) => !this.untouchable.has(s.pid)).map((s) => s.pid) });
    this.shielded = pgid === undefined ? undefined : all.find((s) => s.pgrp === pgid && this.untouchable.has(s.pid))?.pid;
    const result: ProcStat[] = [];
    for (const stat of found) {
      this.seen.set(stat.pid, stat);
      const why = this.untouchable.get(stat.pid) ?? (stat.pid <= 1 ? 'protected (init)' : undefined);
      if (why === undefined) result.push(stat);
      else this.addSurvivor(stat.pid, why);
    }
    return result;
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
    if (this.pgid === undefined || !living.some((s) => this.isGroupMember(s))) return false;
    // A group signal would also reach a protected member; then every member is signalled alone.
    if (this.shielded !== undefined) {
      this.addSurvivor(this.shielded, this.untouchable.get(this.shielded)!);
      return false;
    }
    return this.vouched() && this.kill(-this.pgid, signal);
  }

  /**
   * Whether a process known by pid + start time is alive in the group right now (re-read just
   * before the signal): then the kernel has kept the number allocated and the group is the
   * run's. Otherwise every member may have died since the last walk and the number may have
   * been reused, so the caller signals the members it knows one by one.
   */
  private vouched(): boolean {
    for (const known of this.seen.values()) {
      const now = readProcStat(known.pid);
      if (now !== undefined && isLiveStat(now) && now.starttime === known.starttime && now.pgrp === this.pgid) return true;
    }
    return false;
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
        if (target < 0) this.log?.warn({ pgid: -target, signal }, 'not permitted to signal the process group');
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
    this.log?.warn({ [what]: id }, `refusing to signal by ${what}: it is ours or a system one`);
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
