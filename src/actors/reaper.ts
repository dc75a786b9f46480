import { toError } from '../errors.ts';
import type { Logger } from '../ports/logger.ts';
import type { ProcessControl, ProcessEntry } from '../ports/process-control.ts';
import type { ProcessRegistry, ProcessRow } from '../ports/process-registry.ts';
import { runMembers, UNPROVEN, type RunMembers } from './run-members.ts';

export interface ReapReport {
  reaped: number;
  skipped: Array<{ pid: number; reason: string }>;
  /** Orphaned processes found alive: killed, unless this is a dry run. */
  alive: Array<{ pid: number; taskId: string; runId: string }>;
}

export interface ReapOptions {
  registry: ProcessRegistry;
  control: ProcessControl;
  /** `nodeId:incarnation` of every incarnation still alive on this machine; others are orphans. */
  liveOwners: ReadonlySet<string>;
  protectedPids: ReadonlySet<number>;
  graceMs: number;
  dryRun?: boolean;
  log: Logger;
}

/**
 * Kills the trees left by dead incarnations and failed dispatches, also when their root is gone
 * and only grandchildren are left: the run's processes are found by their REEVE_RUN_ID and by
 * the recorded group / session when that is proven still the run's (see `runMembers` for why).
 * A pid reused by an unrelated process, or a group number handed to one, is never signalled.
 * A row is cleared only once no process of its run is left; protected pids are never signalled.
 */
export async function reapOrphans(options: ReapOptions): Promise<ReapReport> {
  const report: ReapReport = { reaped: 0, skipped: [], alive: [] };
  const orphans = (await options.registry.list()).filter((row) => row.state === 'handoff' || !options.liveOwners.has(`${row.nodeId}:${row.incarnation}`));
  if (orphans.length === 0) return report;
  // One look at /proc (stat and environ of every process, ~20 µs each) for the whole pass; the
  // kill re-checks each pid's start time before it signals, so a stale entry is harmless.
  const processes = options.control.snapshot();
  for (const row of orphans) {
    try {
      await reapRow(row, runMembers(row, processes), options, report);
    } catch (err) {
      options.log.error({ err: toError(err), runId: row.runId, pid: row.pid }, 'reaping a row failed; it stays for the next pass');
    }
  }
  return report;
}

async function reapRow(row: ProcessRow, found: RunMembers, o: ReapOptions, report: ReapReport): Promise<void> {
  report.skipped.push(...found.skipped);
  if (found.skipped.some((s) => s.reason === UNPROVEN)) {
    o.log.warn({ runId: row.runId, taskId: row.taskId, pgid: row.pgid, pids: found.skipped.map((s) => s.pid) }, 'processes in an orphaned run\'s group are not provably the run\'s; left alone');
  }
  let remaining = false;
  const targets: ProcessEntry[] = [];
  for (const member of found.members) {
    if (o.protectedPids.has(member.pid)) {
      report.skipped.push({ pid: member.pid, reason: 'protected pid' });
      remaining = true;
      continue;
    }
    report.alive.push({ pid: member.pid, taskId: row.taskId, runId: row.runId });
    targets.push(member);
  }
  if (o.dryRun) return;
  if (targets.length > 0) {
    const { survivors } = await o.control.killTree({ members: targets, pgid: found.pgid, sid: found.sid, graceMs: o.graceMs });
    report.skipped.push(...survivors);
    if (survivors.some((s) => s.reason !== 'protected')) remaining = true;
    else report.reaped++;
    o.log.warn({ pids: targets.map((t) => t.pid), taskId: row.taskId, runId: row.runId, survivors }, 'reaped an orphaned process tree');
  }
  if (!remaining) await o.registry.clear(row.runId);
}
