import type { ProcessEntry } from '../ports/process-control.ts';
import type { ProcessRow } from '../ports/process-registry.ts';

/** Which live processes belong to one registry row's run, judged from a snapshot of /proc. */
export interface RunMembers {
  /** Proven processes of the run: the ones the reaper kills. */
  members: ProcessEntry[];
  /** The recorded group / session, when proven still the run's (group signals are then safe). */
  pgid?: number;
  sid?: number;
  /** Processes that are never signalled, with the reason (a reused pid, an unprovable member). */
  skipped: Array<{ pid: number; reason: string }>;
}

export const REUSED_PID = 'pid reused by another process (start time differs); not signalled';
export const UNPROVEN =
  "in the run's recorded process group or session, but nothing proves it is the run's (no readable REEVE_RUN_ID, and no process of the run left in the group); not signalled";

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
 * that exec'd with a cleared environment. Without a voucher such members are left alone and
 * reported. Never the run's: a process carrying another run's marker, or one started before the
 * run's root (it cannot descend from it).
 */
export function runMembers(row: ProcessRow, processes: readonly ProcessEntry[]): RunMembers {
  const isRoot = (p: ProcessEntry) => row.pid !== undefined && p.pid === row.pid && p.starttime === row.starttime && !carriesOther(p);
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
  // reused: whatever is in its group or session now is somebody else's.
  const reused = processes.find((p) => p.pid === row.pid && !isRoot(p) && !marked(p));
  if (reused) result.skipped.push({ pid: reused.pid, reason: REUSED_PID });
  for (const p of processes) {
    if (isRoot(p) || marked(p) || (groupProven && inGroup(p)) || (sessionProven && inSession(p))) result.members.push(p);
    else if (!reused && !foreign(p) && (inGroup(p) || inSession(p))) result.skipped.push({ pid: p.pid, reason: UNPROVEN });
  }
  return result;
}
