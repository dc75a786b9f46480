import type { PurgeResult } from '../../ports/task-store.ts';
import { TERMINAL_STATES, type TaskState } from '../../protocol/task-states.ts';
import type { ParsedPurge } from '../request-schemas.ts';
import { annotationsKey, taskKey } from './codec.ts';
import { isCasConflict, storeError, type TaskKeys, type Versioned } from './task-keys.ts';

/** Reads and purges in flight at once. */
const MAX_PARALLEL = 256;

/**
 * Deletes finished tasks for good: KV keeps every task until someone does (2.9.10 has no
 * per-key TTL), and each store instance's index holds every task of the bucket.
 *
 * Candidates come from the index (terminal states); each is read fresh and kept only if it is
 * still in one of the states and older than `before`, oldest first up to `limit`. Each is then
 * purged with the revision read as the expected one (`previousSeq`, through the write token on
 * a server with the compare-and-set race), so a task reopened in between is left alone and not
 * reported. A purge keeps one small marker per key in the stream; the annotations key goes too.
 * Cost: one get per terminal task in the bucket (an operator command), one purge per task.
 */
export async function purgeTasks(keys: TaskKeys, req: ParsedPurge): Promise<PurgeResult> {
  const states = new Set<TaskState>(req.states ?? TERMINAL_STATES);
  const limit = req.limit ?? 1000;
  const dryRun = req.dryRun ?? false;
  await keys.index.ready();
  const candidates = keys.index.newestFirst().filter((e) => states.has(e.head.state));
  const due: Versioned[] = [];
  try {
    for (let i = 0; i < candidates.length; i += MAX_PARALLEL) {
      for (const read of await Promise.all(candidates.slice(i, i + MAX_PARALLEL).map((e) => keys.read(e.id)))) {
        if (read && states.has(read.doc.state) && read.doc.updatedAt < req.before) due.push(read);
      }
    }
  } catch (err) {
    throw storeError(err, 'reading tasks to purge');
  }
  due.sort((a, b) => a.doc.updatedAt - b.doc.updatedAt || (a.doc.seq ?? 0) - (b.doc.seq ?? 0));
  const chosen = due.slice(0, limit);
  if (dryRun) return { ids: chosen.map((v) => v.doc.id), dryRun };
  const ids: string[] = [];
  for (let i = 0; i < chosen.length; i += MAX_PARALLEL) {
    await Promise.all(
      chosen.slice(i, i + MAX_PARALLEL).map(async ({ doc, revision }) => {
        try {
          await keys.kv.purge(taskKey(doc.id), { previousSeq: revision });
        } catch (err) {
          if (isCasConflict(err)) return; // changed since the read (reopened): not purged
          throw storeError(err, `purging task ${doc.id}`);
        }
        // The marker's revision is above the one purged: the watch's echo of it changes nothing more.
        keys.index.apply(doc.id, revision + 1, null);
        ids.push(doc.id);
        await keys.kv.purge(annotationsKey(doc.id)).catch(() => undefined);
      }),
    );
  }
  const order = new Map(chosen.map((v, i) => [v.doc.id, i]));
  return { ids: ids.sort((a, b) => order.get(a)! - order.get(b)!), dryRun };
}
