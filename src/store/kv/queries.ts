import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, ReeveError } from '../../errors.ts';
import { backoffDelay, type Backoff } from '../../machines/backoff.ts';
import type { StoredTask, TaskQuery } from '../../ports/task-store.ts';
import type { TaskState } from '../../protocol/task-states.ts';
import type { TaskRecord } from '../../protocol/task.ts';
import { toFull, toStored } from './codec.ts';
import type { SideKeys } from './side-keys.ts';
import type { IndexEntry } from './task-index.ts';
import type { TaskKeys, Versioned } from './task-keys.ts';

/** Most reads in flight at once for one query (each is one direct get). */
const MAX_PARALLEL = 256;

/**
 * Re-reads of a task the index holds but whose key has no entry at all: ~1.5 s in all, long
 * enough for a stream leader elected after a server restart to answer (see `#confirm`).
 */
const UNREADABLE_RETRIES = 5;
const UNREADABLE_BACKOFF: Backoff = { firstMs: 50, maxMs: 800 };

/** What a listing does with a task it still cannot read after the retries. */
type Unreadable = 'fail' | 'skip';

async function mapChunked<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += MAX_PARALLEL) out.push(...(await Promise.all(items.slice(i, i + MAX_PARALLEL).map(fn))));
  return out;
}

const byLeaseExpiry = (a: { leaseExpiresAt?: number }, b: { leaseExpiresAt?: number }): number =>
  (a.leaseExpiresAt ?? 0) - (b.leaseExpiresAt ?? 0);

/**
 * The listings, answered from the index (see kv-task-store.ts) and confirmed on fresh reads:
 * the index picks the candidates, a `get` of each candidate, in order, checks it still
 * matches, so a caller never acts on a revision the index made up. The index is only ever
 * behind, so a listing may miss a change a few milliseconds old on another connection, never
 * report one that did not happen.
 */
export class KvQueries {
  constructor(
    private readonly keys: TaskKeys,
    private readonly side: SideKeys,
  ) {}

  /**
   * Reads candidates in order, chunk by chunk, keeping those that still match, up to `limit`.
   * A task whose key now ends in a delete marker was deleted: it is left out. A key with no
   * entry at all cannot be one of the index's tasks (the index only holds keys the watch or a
   * read saw, and every delete leaves a marker), so that read is not trusted: it is retried a
   * few times and, still missing, fails the listing with STORE_UNAVAILABLE naming the tasks:
   * an operator's listing must not come back silently short (`unreadable: 'fail'`). A sweep
   * (`'skip'`) acts on what it finds and looks again soon: it leaves such a task out.
   */
  async #confirm(candidates: readonly IndexEntry[], limit: number, keep: (v: Versioned) => boolean, unreadable: Unreadable): Promise<Versioned[]> {
    const out: Versioned[] = [];
    let i = 0;
    while (i < candidates.length && out.length < limit) {
      const slice = candidates.slice(i, i + Math.min(limit - out.length, MAX_PARALLEL));
      i += slice.length;
      const reads = await Promise.all(slice.map((e) => this.keys.readState(e.id)));
      const missing = slice.filter((_, k) => reads[k] === undefined).map((e) => e.id);
      const found = missing.length > 0 && unreadable === 'fail' ? await this.#reread(missing) : new Map<string, Versioned>();
      for (const [k, read] of reads.entries()) {
        const task = read ?? found.get(slice[k]!.id);
        if (typeof task === 'object' && keep(task) && out.length < limit) out.push(task);
      }
    }
    return out;
  }

  /** Reads again, with backoff, tasks whose key had no entry; throws if some stay unreadable. */
  async #reread(ids: string[]): Promise<Map<string, Versioned>> {
    const found = new Map<string, Versioned>();
    let left = ids;
    for (let attempt = 0; attempt < UNREADABLE_RETRIES && left.length > 0; attempt++) {
      await sleep(backoffDelay(attempt, UNREADABLE_BACKOFF));
      const asked = left;
      const reads = await Promise.all(asked.map((id) => this.keys.readState(id)));
      reads.forEach((read, k) => {
        if (typeof read === 'object') found.set(asked[k]!, read);
      });
      // A delete marker is an answer too: the task was deleted meanwhile.
      left = asked.filter((_, k) => reads[k] === undefined);
    }
    if (left.length > 0) {
      const some = left.slice(0, 5).join(', ');
      throw new ReeveError(
        ErrorCode.StoreUnavailable,
        `KV task store: ${left.length} listed task(s) have no record in the bucket after ${UNREADABLE_RETRIES} reads (${some}${left.length > 5 ? ', …' : ''}); the listing would be incomplete. A server may still be catching up after a restart: retry; if it persists, the keys were removed outside Reeve`,
        { data: { taskIds: left.slice(0, 100) } },
      );
    }
    return found;
  }

  /** Index: scan of leased entries, O(tasks in flight). Then one get per stale lease. */
  async listStale(limit: number, now: number): Promise<StoredTask[]> {
    await this.keys.index.ready();
    const isStale = (h: { owner?: string; leaseExpiresAt?: number }): boolean =>
      h.owner !== undefined && h.leaseExpiresAt !== undefined && h.leaseExpiresAt <= now;
    const candidates = [...this.keys.index.leased()].filter((e) => isStale(e.head)).sort((a, b) => byLeaseExpiry(a.head, b.head));
    const fresh = await this.#confirm(candidates, limit, ({ doc }) => isStale(doc), 'skip');
    return fresh.map(({ doc, revision }) => toStored(doc, revision)).sort(byLeaseExpiry);
  }

  /** Index: scan of leased entries, O(tasks in flight). Then one get per task owned. */
  async listOwned(ownerPrefix: string, limit: number): Promise<StoredTask[]> {
    await this.keys.index.ready();
    const owned = (owner: string | undefined): boolean => owner !== undefined && owner.startsWith(ownerPrefix);
    const candidates = [...this.keys.index.leased()].filter((e) => owned(e.head.owner)).sort((a, b) => byLeaseExpiry(a.head, b.head));
    const fresh = await this.#confirm(candidates, limit, ({ doc }) => owned(doc.owner), 'skip');
    return fresh.map(({ doc, revision }) => toStored(doc, revision)).sort(byLeaseExpiry);
  }

  /** Index only, no read: O(tasks in flight), polled by owners. The owner's next write re-reads anyway. */
  async listCancelRequests(owner: string): Promise<Array<{ id: string; reason: string }>> {
    await this.keys.index.ready();
    const found: Array<{ id: string; reason: string }> = [];
    for (const { id, head } of this.keys.index.leased()) {
      if (head.owner === owner && head.cancelRequested) found.push({ id, reason: head.cancelRequested.reason });
    }
    return found;
  }

  /**
   * Index: every entry filtered by state and kind and sorted newest first, O(n log n) in the
   * tasks of the bucket (an operator command). Then two gets per task returned (record and
   * annotations).
   */
  async query(q: Required<Pick<TaskQuery, 'limit'>> & Omit<TaskQuery, 'limit'>): Promise<TaskRecord[]> {
    await this.keys.index.ready();
    const matches = (doc: { state: TaskState; kind: string }): boolean =>
      (q.state === undefined || doc.state === q.state) && (q.kind === undefined || doc.kind === q.kind);
    const fresh = await this.#confirm(this.keys.index.newestFirst(q.state, q.kind), q.limit, ({ doc }) => matches(doc), 'fail');
    const annotations = await mapChunked(fresh, ({ doc }) => this.side.annotations(doc.id));
    return fresh.map(({ doc, revision }, i) => {
      const { snapshot: _snapshot, ...record } = toFull(doc, revision, annotations[i] ?? []);
      return record;
    });
  }

  /** Index only: counts per kind kept on every change, O(kinds). */
  async countQueued(kinds: readonly string[]): Promise<number> {
    await this.keys.index.ready();
    return this.keys.index.queuedOf(kinds);
  }

  /** Index only: counts kept up to date on every change, O(states). */
  async countByState(): Promise<Partial<Record<TaskState, number>>> {
    await this.keys.index.ready();
    return this.keys.index.counts();
  }
}
