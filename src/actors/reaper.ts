import { toError } from '../errors.ts';
import type { Logger } from '../ports/logger.ts';
import type { ProcessControl } from '../ports/process-control.ts';
import type { ProcessRegistry, ProcessRow } from '../ports/process-registry.ts';

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
 * Kills the trees left by dead incarnations and failed dispatches. A process is killed only if
 * both its pid and its start time match the row: a pid reused by an unrelated process is left
 * alone and its row dropped. Protected pids are never signalled.
 */
export async function reapOrphans(options: ReapOptions): Promise<ReapReport> {
  const report: ReapReport = { reaped: 0, skipped: [], alive: [] };
  for (const row of await options.registry.list()) {
    const orphan = row.state === 'handoff' || !options.liveOwners.has(`${row.nodeId}:${row.incarnation}`);
    if (!orphan) continue;
    try {
      await reapRow(row, options, report);
    } catch (err) {
      options.log.error({ err: toError(err), runId: row.runId, pid: row.pid }, 'reaping a row failed; it stays for the next pass');
    }
  }
  return report;
}

async function reapRow(row: ProcessRow, o: ReapOptions, report: ReapReport): Promise<void> {
  // An intent without a pid: the node died between writing the intent and recording the
  // spawn. The process, if it started, carries REEVE_RUN_ID in its environment.
  const pids = row.pid === undefined ? o.control.findByRunId(row.runId) : [row.pid];
  let remaining = false;
  for (const pid of pids) {
    const identity = o.control.identity(pid);
    if (!identity) continue; // gone (or a zombie): nothing to do
    if (row.starttime !== undefined && identity.starttime !== row.starttime) {
      report.skipped.push({ pid, reason: 'pid reused by another process (start time differs); not signalled' });
      continue;
    }
    if (o.protectedPids.has(pid)) {
      report.skipped.push({ pid, reason: 'protected pid' });
      remaining = true;
      continue;
    }
    report.alive.push({ pid, taskId: row.taskId, runId: row.runId });
    if (o.dryRun) {
      remaining = true;
      continue;
    }
    const { survivors } = await o.control.killTree({ rootPid: pid, pgid: row.pgid ?? identity.pgrp, sid: row.sid ?? identity.session, graceMs: o.graceMs });
    report.skipped.push(...survivors);
    if (survivors.some((s) => s.reason !== 'protected')) remaining = true;
    else report.reaped++;
    o.log.warn({ pid, taskId: row.taskId, runId: row.runId, survivors }, 'reaped an orphaned process tree');
  }
  if (!remaining && !o.dryRun) await o.registry.clear(row.runId);
}
