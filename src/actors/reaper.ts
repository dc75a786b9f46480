import { toError } from '../errors.ts';
import type { Logger } from '../ports/logger.ts';
import type { KillTarget, ProcessControl, ProcessEntry } from '../ports/process-control.ts';
import type { ProcessRegistry, ProcessRow } from '../ports/process-registry.ts';
import { runMembers, UNPROVEN, type RunIdentity, type RunMembers } from '../platform/run-members.ts';

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
  /**
   * How long a row is kept once only processes that cannot be proven the run's are left in its
   * group or session (they are reported by every pass and by `reeve reap` meanwhile); then the
   * row is dropped and they are forgotten. Default `UNPROVEN_KEEP_MS`.
   */
  unprovenKeepMs?: number;
  dryRun?: boolean;
  log: Logger;
}

/**
 * One hour: long enough for an operator to see the processes in `reeve reap --dry-run` and for
 * a short-lived stranger that took the group number to go; bounded, so that a login session
 * that took it for good does not keep a row (and a warning per pass) for ever.
 */
export const UNPROVEN_KEEP_MS = 3_600_000;

interface Plan {
  row: ProcessRow;
  found: RunMembers;
  targets: ProcessEntry[];
  /** A protected process of the run is left alive: the row stays. */
  keep: boolean;
}

/**
 * Kills the trees left by dead incarnations and failed dispatches, also when their root is gone
 * and only grandchildren are left: the run's processes are found by their REEVE_RUN_ID, by the
 * recorded group / session when that is proven still the run's, and by ppid from a proven
 * process (see `runMembers`). A pid reused by an unrelated process, or a group number handed to
 * one, is never signalled; neither is any process of a row written in another boot (its numbers
 * mean nothing now: the row is dropped). All rows' trees are killed in one wave (one SIGTERM to
 * all, one grace, SIGKILL to what is left), so a start-up after a crash of many runs takes one
 * grace, not one per run. A row is cleared once no process of its run is left; one with only
 * unprovable processes left is kept for `unprovenKeepMs`. Protected pids are never signalled.
 */
export async function reapOrphans(options: ReapOptions): Promise<ReapReport> {
  const report: ReapReport = { reaped: 0, skipped: [], alive: [] };
  const orphans = (await options.registry.list()).filter((row) => row.state === 'handoff' || !options.liveOwners.has(`${row.nodeId}:${row.incarnation}`));
  if (orphans.length === 0) return report;
  const boot = options.control.bootId();
  const current: ProcessRow[] = [];
  for (const row of orphans) {
    if (row.bootId === undefined || boot === undefined || row.bootId === boot) current.push(row);
    else if (!options.dryRun) await settleRow(row, options, () => options.registry.clear(row.runId), 'dropped a process row written before a reboot, without signalling');
  }
  // One look at /proc (stat and environ of every process, ~20 µs each) for the whole pass; the
  // kill re-checks each pid's start time, and each group's voucher, before it signals.
  const processes = options.control.snapshot();
  const plans = current.map((row) => plan(row, runMembers(identityOf(row), processes), options, report));
  if (options.dryRun) return report;
  const killed = plans.filter((p) => p.targets.length > 0);
  let results: Array<{ survivors: Array<{ pid: number; reason: string }> }>;
  try {
    const targets = killed.map((p): KillTarget => ({ members: p.targets, pgid: p.found.pgid, sid: p.found.sid }));
    results = targets.length === 0 ? [] : await options.control.killTrees(targets, options.graceMs);
  } catch (err) {
    options.log.error({ err: toError(err), runs: killed.map((p) => p.row.runId) }, 'killing orphaned process trees failed; their rows stay for the next pass');
    return report;
  }
  const survivorsOf = new Map(killed.map((p, i) => [p, results[i]!.survivors]));
  for (const p of plans) await settleRow(p.row, options, () => finish(p, survivorsOf.get(p), options, report));
  return report;
}

/**
 * A row written before `boot_id` was recorded may come from before a reboot: its pid, group and
 * start time are then meaningless, so only the marker (random per spawn, carried by no process
 * of another boot) identifies its processes.
 */
function identityOf(row: ProcessRow): RunIdentity {
  return row.bootId === undefined ? { runId: row.runId } : row;
}

function plan(row: ProcessRow, found: RunMembers, o: ReapOptions, report: ReapReport): Plan {
  report.skipped.push(...found.skipped);
  if (found.skipped.some((s) => s.reason === UNPROVEN)) {
    o.log.warn({ runId: row.runId, taskId: row.taskId, pgid: row.pgid, pids: found.skipped.map((s) => s.pid) }, 'processes in an orphaned run\'s group are not provably the run\'s; left alone');
  }
  const result: Plan = { row, found, targets: [], keep: false };
  for (const member of found.members) {
    if (o.protectedPids.has(member.pid)) {
      report.skipped.push({ pid: member.pid, reason: 'protected pid' });
      result.keep = true;
      continue;
    }
    report.alive.push({ pid: member.pid, taskId: row.taskId, runId: row.runId });
    result.targets.push(member);
  }
  return result;
}

/** After the kill: the row is cleared, kept, or (after `unprovenKeepMs` of unprovable leftovers) dropped. */
async function finish(p: Plan, survivors: Array<{ pid: number; reason: string }> | undefined, o: ReapOptions, report: ReapReport): Promise<void> {
  const { row } = p;
  if (survivors !== undefined) {
    report.skipped.push(...survivors);
    if (survivors.some((s) => s.reason !== 'protected')) p.keep = true;
    else report.reaped++;
    o.log.warn({ pids: p.targets.map((t) => t.pid), taskId: row.taskId, runId: row.runId, survivors }, 'reaped an orphaned process tree');
  }
  if (p.keep) return;
  if (!p.found.skipped.some((s) => s.reason === UNPROVEN)) return o.registry.clear(row.runId);
  const keptMs = await o.registry.unprovenFor(row.runId);
  if (keptMs < (o.unprovenKeepMs ?? UNPROVEN_KEEP_MS)) return;
  o.log.warn({ runId: row.runId, taskId: row.taskId, keptMs }, 'forgetting a run whose group holds only processes not provably its own');
  await o.registry.clear(row.runId);
}

async function settleRow(row: ProcessRow, o: ReapOptions, settle: () => Promise<void>, done?: string): Promise<void> {
  try {
    await settle();
    if (done) o.log.info({ runId: row.runId, taskId: row.taskId, pid: row.pid, bootId: row.bootId }, done);
  } catch (err) {
    o.log.error({ err: toError(err), runId: row.runId, pid: row.pid }, 'reaping a row failed; it stays for the next pass');
  }
}
