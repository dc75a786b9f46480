import { ErrorCode } from '../errors.ts';
import type { Logger } from '../ports/logger.ts';
import type { TaskStore } from '../ports/task-store.ts';

export interface SweepResult {
  requeued: number;
  quarantined: number;
}

/**
 * Returns expired leases to the queue (or quarantines them at the crash limit). Another node
 * may sweep the same task at the same moment: the compare-and-set makes one of them win, and
 * the loser's STORE_CONFLICT is expected, not an error.
 */
export async function sweepStaleLeases(
  store: Pick<TaskStore, 'listStale' | 'requeueStale'>,
  crashLimit: (kind: string) => number,
  log: Logger,
  limit = 100,
): Promise<SweepResult> {
  const result: SweepResult = { requeued: 0, quarantined: 0 };
  for (const task of await store.listStale(limit)) {
    try {
      const after = await store.requeueStale(task.id, task.revision, { crashLimit: crashLimit(task.kind) });
      if (after.state === 'quarantined') result.quarantined++;
      else result.requeued++;
      log.warn({ taskId: task.id, owner: task.owner, state: after.state, crashes: after.attempts.crashes }, 'stale lease swept');
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== ErrorCode.StoreConflict && code !== ErrorCode.InvalidTransition && code !== ErrorCode.TaskTerminal) throw err;
    }
  }
  return result;
}

/** At start: the node's previous incarnations are dead, so their tasks come back at once. */
export async function takeBackPreviousIncarnations(
  store: Pick<TaskStore, 'listOwned' | 'requeueStale'>,
  nodeId: string,
  owner: string,
  crashLimit: (kind: string) => number,
  log: Logger,
): Promise<number> {
  let taken = 0;
  for (const task of await store.listOwned(`${nodeId}:`, 10_000)) {
    if (task.owner === owner || task.owner === undefined) continue;
    try {
      await store.requeueStale(task.id, task.revision, { crashLimit: crashLimit(task.kind), deadOwner: task.owner });
      taken++;
    } catch (err) {
      if ((err as { code?: string }).code !== ErrorCode.StoreConflict) throw err;
    }
  }
  if (taken) log.warn({ taken, nodeId }, 'took back tasks of this node’s previous incarnation');
  return taken;
}
