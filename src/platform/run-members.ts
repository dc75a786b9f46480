import type { ProcessEntry } from '../ports/process-control.ts';
import type { ProcessRow } from '../ports/process-registry.ts';

/**
 * Which live processes belong to one run, judged from a snapshot of /proc. Shared by the
 * reaper (rows of dead incarnations and handoffs) and the command runner's sweep after a run's
 * root has exited: both face a root whose pid, group and session numbers may have been reused.
 */
export interface RunMembers {
  /** Proven processes of the run: the ones that are killed. */
  members: ProcessEntry[];
  /** The recorded group / session, when proven still the run's (group signals are then safe). */
  pgid?: number;
  sid?: number;
  /** Processes that are never signalled, with the reason (a reused pid, an unprovable member). */
  skipped: Array<{ pid: number; reason: string }>;
}

/** What identifies a run: its marker and, once spawned, its root's pid, group, session and start time. */
export type RunIdentity = Pick<ProcessRow, 'runId' | 'pid' | 'pgid' | 'sid' | 'starttime'>;

export const REUSED_PID = 'pid reused by another process (start time differs); not signalled';
export const UNPROVEN =
  "in the run's recorded process group or session, but nothing proves it is the run's (no readable REEVE_RUN_ID, no process of the run left in the group, no parent of the run); not signalled";

/**
 * Identity, when the root may be gone. Every process a run starts inherits `REEVE_RUN_ID=<run
 * id>` (random per spawn, so no other process carries it) from the root; a process carrying it
 * is the run's wherever it went, even out of the group with setsid(), and whatever pid numbers
 * were reused since. The recorded process group / session number, on the other hand, is only
 * the run's while the kernel has kept it allocated: once every member is gone the number can be
 * handed to an unrelated process (a login shell, another run) whose members start *after* the
 * recorded spawn time, so "member of the group and younger than the root" alone would kill
 * innocents. So the group counts only when something vouches that it was never freed: the
 * recorded root itself (pid + start time) or a live member carrying the marker. Then every
 * member is the run's, including one whose environment cannot be read (ssh is non-dumpable) or
 * that exec'd with a cleared environment. A child of a proven process (its ppid in the same
 * snapshot, started no earlier than it) is the run's too, in any group. Without any of these a
 * member is left alone and reported. Never the run's: a process carrying another run's marker,
 * or one started before the run's root (it cannot descend from it).
 */
export function runMembers(row: RunIdentity, processes: readonly ProcessEntry[]): RunMembers {
  const isRoot = (p: ProcessEntry) => row.pid !== undefined && row.starttime !== undefined && p.pid === row.pid && p.starttime === row.starttime && !carriesOther(p);
  const carriesOther = (p: ProcessEntry) => typeof p.runId === 'string' && p.runId !== row.runId;
  const foreign = (p: ProcessEntry) => carriesOther(p) || (row.starttime !== undefined && p.starttime < row.starttime);
  const marked = (p: ProcessEntry) => p.runId === row.runId && !foreign(p);

  const inGroup = (p: ProcessEntry) => row.pgid !== undefined && p.pgrp === row.pgid;
  const inSession = (p: ProcessEntry) => row.sid !== undefined && p.session === row.sid;
  const vouchers = processes.filter((p) => isRoot(p) || marked(p));
  // One foreign process in the group and a group signal would reach it: then members go one by one.
  const groupProven = vouchers.some(inGroup) && !processes.some((p) => inGroup(p) && foreign(p));
  const sessionProven = vouchers.some(inSession) && !processes.some((p) => inSession(p) && foreign(p));

  const result: RunMembers = { members: [], skipped: [] };
  if (groupProven) result.pgid = row.pgid!;
  if (sessionProven) result.sid = row.sid!;
  // A live process with the recorded pid that is not the root proves the number was freed and
  // reused: whatever is in its group or session now is somebody else's (unless marked).
  const reused = processes.find((p) => p.pid === row.pid && !isRoot(p) && !marked(p));
  if (reused) result.skipped.push({ pid: reused.pid, reason: REUSED_PID });
  const proven = new Set(processes.filter((p) => isRoot(p) || marked(p) || (groupProven && inGroup(p)) || (sessionProven && inSession(p))));
  for (const child of descendants(proven, processes, foreign)) proven.add(child);
  for (const p of processes) {
    if (proven.has(p)) result.members.push(p);
    else if (!reused && !foreign(p) && (inGroup(p) || inSession(p))) result.skipped.push({ pid: p.pid, reason: UNPROVEN });
  }
  return result;
}

/**
 * Every process below the given ones through ppid links of the snapshot. A ppid names the live
 * parent (an orphan is reparented at once), and a child is never older than its parent, so a
 * link to a proven process is proof; a process that claims an older "child" is a stale read.
 * The walk stops at a foreign process (another run's, e.g. a nested Reeve): its subtree is its own.
 */
function descendants(roots: ReadonlySet<ProcessEntry>, processes: readonly ProcessEntry[], foreign: (p: ProcessEntry) => boolean): ProcessEntry[] {
  const children = new Map<number, ProcessEntry[]>();
  for (const p of processes) {
    const siblings = children.get(p.ppid);
    if (siblings) siblings.push(p);
    else children.set(p.ppid, [p]);
  }
  const found: ProcessEntry[] = [];
  const seen = new Set(roots);
  const queue = [...roots];
  for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
    for (const child of children.get(next.pid) ?? []) {
      if (seen.has(child) || child.starttime < next.starttime || foreign(child)) continue;
      seen.add(child);
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}
