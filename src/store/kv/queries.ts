import type { StoredTask, TaskQuery } from '../../ports/task-store.ts';
import type { TaskState } from '../../protocol/task-states.ts';
import type { TaskRecord } from '../../protocol/task.ts';
import { toFull, toStored } from './codec.ts';
import type { SideKeys } from './side-keys.ts';
import type { IndexEntry } from './task-index.ts';
import type { TaskKeys, Versioned } from './task-keys.ts';

/** Most reads in flight at once for one query (each is one direct get). */
const MAX_PARALLEL = 256;

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

  /** Reads candidates in order, chunk by chunk, keeping those that still match, up to `limit`. */
  async #confirm(candidates: readonly IndexEntry[], limit: number, keep: (v: Versioned) => boolean): Promise<Versioned[]> {
    const out: Versioned[] = [];
    let i = 0;
    while (i < candidates.length && out.length < limit) {
      const slice = candidates.slice(i, i + Math.min(limit - out.length, MAX_PARALLEL));
      i += slice.length;
      for (const read of await Promise.all(slice.map((e) => this.keys.read(e.id)))) {
        if (read && keep(read) && out.length < limit) out.push(read);
      }
    }
    return out;
  }

  /** Index: scan of leased entries, O(tasks in flight). Then one get per stale lease. */
  async listStale(limit: number, now: number): Promise<StoredTask[]> {
    await this.keys.index.ready();
    const isStale = (h: { owner?: string; leaseExpiresAt?: number }): boolean =>
      h.owner !== undefined && h.leaseExpiresAt !== undefined && h.leaseExpiresAt <= now;
    const candidates = [...this.keys.index.leased()].filter((e) => isStale(e.head)).sort((a, b) => byLeaseExpiry(a.head, b.head));
    const fresh = await this.#confirm(candidates, limit, ({ doc }) => isStale(doc));
    return fresh.map(({ doc, revision }) => toStored(doc, revision)).sort(byLeaseExpiry);
  }

  /** Index: scan of leased entries, O(tasks in flight). Then one get per task owned. */
  async listOwned(ownerPrefix: string, limit: number): Promise<StoredTask[]> {
    await this.keys.index.ready();
    const owned = (owner: string | undefined): boolean => owner !== undefined && owner.startsWith(ownerPrefix);
    const candidates = [...this.keys.index.leased()].filter((e) => owned(e.head.owner)).sort((a, b) => byLeaseExpiry(a.head, b.head));
    const fresh = await this.#confirm(candidates, limit, ({ doc }) => owned(doc.owner));
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
    const fresh = await this.#confirm(this.keys.index.newestFirst(q.state, q.kind), q.limit, ({ doc }) => matches(doc));
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
