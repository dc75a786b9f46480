import type { KV, KvWatchEntry } from '@nats-io/kv';
import { ErrorCode, ReeveError, toError } from '../../errors.ts';
import type { TaskState } from '../../protocol/task-states.ts';
import { CLEANUP_STATES, decodeHead, idOfKey, isClaimable, QUEUE_STATES, TASK_WATCH_FILTER, taskKey, type ClaimFilter, type TaskHead } from './codec.ts';

export interface IndexEntry {
  id: string;
  revision: number;
  head: TaskHead;
  /**
   * The whole stored value, kept only while the task is claimable (queued, backoff, cleanup
   * and unowned): a claim can compare-and-set on it without reading the task first.
   */
  value?: Uint8Array;
}

const SYNC_TIMEOUT_MS = 30_000;
/** Direct reads in flight at once while a sync fills in keys its watch skipped. */
const MAX_PARALLEL_READS = 256;

/** What a sync asks the server besides its watch (see TaskIndex.ready). */
export interface IndexSource {
  /** The stream sequence of the newest message on any task key (0: none). */
  lastTaskRevision(): Promise<number>;
  /** Every task key (`t.…`) with an entry left, deleted ones included, in one answer of the server. */
  taskKeys(): Promise<string[]>;
}

/** Claim order: higher priority first, FIFO (creation revision) within a priority. */
const byPriority = (a: IndexEntry, b: IndexEntry): number => b.head.priority - a.head.priority || a.head.seq - b.head.seq;
const bySeq = (a: IndexEntry, b: IndexEntry): number => a.head.seq - b.head.seq;

/** A sorted array with binary-search insert and remove: O(log n) to find, O(n) memmove. */
class SortedList {
  readonly items: IndexEntry[] = [];
  constructor(private readonly compare: (a: IndexEntry, b: IndexEntry) => number) {}

  #position(entry: IndexEntry): number {
    let lo = 0;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.compare(this.items[mid]!, entry) < 0) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  insert(entry: IndexEntry): void {
    this.items.splice(this.#position(entry), 0, entry);
  }

  remove(entry: IndexEntry): void {
    // (priority, seq) is unique per task, so the position found is the entry itself.
    const at = this.#position(entry);
    if (this.items[at] === entry) this.items.splice(at, 1);
    else {
      const i = this.items.indexOf(entry);
      if (i >= 0) this.items.splice(i, 1);
    }
  }
}

/** Deletions remembered before the ones the watch has passed are forgotten (see #pruneDeleted). */
const MAX_DELETED = 10_000;

/**
 * How far a claim looks down the queue for tasks this instance created (see `candidates`):
 * `need × AFFINITY_WINDOW` claimable entries. It bounds how many same-priority tasks a
 * preferred one may overtake.
 */
const AFFINITY_WINDOW = 4;

/**
 * A task claimable for this long ranks with this instance's own ones, so nothing is overtaken
 * for longer than this: a retry back from backoff, a task re-queued by the stale sweeper, or
 * one created by a node that has since gone (none of them "own" anywhere).
 */
const AFFINITY_MAX_WAIT_MS = 1_000;

/**
 * The in-memory index of one store instance: the head (state, owner, lease, priority, FIFO
 * position, availability, breaker key, kind, cancel flag) of every task in the bucket, fed by
 * a KV watch on `t.>` and by this instance's own reads and writes. It is a hint, never the
 * truth: every decision it leads to is re-checked on a fresh read and made by a compare-and-set
 * on the task key. Entries are applied only when their revision is newer than the one held
 * (revisions of one key only grow), so the watch and local writes may arrive in any order.
 */
export class TaskIndex {
  readonly #kv: KV;
  readonly #source: IndexSource;
  readonly #entries = new Map<string, IndexEntry>();
  /** Revision of a delete, so that an older value arriving late does not resurrect the task. */
  readonly #deleted = new Map<string, number>();
  readonly #queue = new SortedList(byPriority);
  readonly #cleanup = new SortedList(bySeq);
  readonly #leased = new Map<string, IndexEntry>();
  readonly #counts = new Map<TaskState, number>();
  readonly #queuedByKind = new Map<string, number>();
  /** Queued tasks this instance created (see `created`): preferred by its claims. */
  readonly #mine = new Set<string>();
  /** Tasks whose record holds notifications not yet moved to the outbox keys. */
  readonly #outboxed = new Map<string, IndexEntry>();
  #ready: Promise<void> | undefined;
  #stopWatch: (() => void) | undefined;
  #seen = 0;
  /** Ids the watch delivered since the sync in progress began (see `#fillSkipped`). */
  #replayed: Set<string> | undefined;
  #waiters: Array<{ revision: number; resolve: () => void }> = [];
  #closed = false;

  constructor(kv: KV, source: IndexSource) {
    this.#kv = kv;
    this.#source = source;
  }

  /**
   * Starts the watch on first use and waits until it has caught up: once the watch exists,
   * it reads the revision of the newest message on any task key (a stream "last by subject"
   * get with the wildcard `t.>`, which 2.9.10 answers) and waits until the watch has delivered
   * that revision or a later one. The server replays last values in revision order (checked in
   * test/integration/kv-store.test.ts), so every key it replayed is then in the index. But the
   * replay is not a snapshot: a key written while the watch's consumer is created or replays
   * can be skipped (its replayed value was deleted by the newer one, history 1) and come back
   * only with its next write, so a listing right after a sync left out the very tasks being
   * worked on (issue 11; test/integration/kv-listing.test.ts). Hence `#fillSkipped`. No write:
   * a read-only user (an operator's CLI) can sync too.
   */
  ready(): Promise<void> {
    if (this.#closed) return Promise.reject(new ReeveError(ErrorCode.StoreUnavailable, 'the KV task store is closed'));
    this.#ready ??= this.#start().catch((err: unknown) => {
      this.#ready = undefined;
      this.#stopWatch?.();
      throw err instanceof ReeveError
        ? err
        : new ReeveError(ErrorCode.StoreUnavailable, `cannot index the KV task bucket: ${toError(err).message}`, { cause: err });
    });
    return this.#ready;
  }

  async #start(): Promise<void> {
    this.#replayed = new Set();
    const watch = await this.#kv.watch({ key: TASK_WATCH_FILTER });
    this.#stopWatch = () => watch.stop();
    // Cannot reject: the catch swallows the watch's end, and the finally only resets.
    void (async () => {
      for await (const entry of watch) this.#onWatch(entry);
    })()
      .catch(() => undefined)
      .finally(() => {
        // The client's ordered consumer survives reconnects; if the watch ends anyway, the
        // next query starts a new one (and re-syncs) instead of trusting a frozen index.
        if (this.#stopWatch) this.#ready = undefined;
      });
    try {
      await this.#reach(await this.#source.lastTaskRevision());
      await this.#fillSkipped(this.#replayed);
    } finally {
      this.#replayed = undefined;
    }
  }

  /**
   * After the replay: the names of every task key, from one stream info request that the
   * server answers from its per-subject state under the stream's lock (a key being rewritten
   * is never missing from it), and a direct read of each key the watch has not delivered since
   * this sync began. Then every task that existed when the sync started is in the index. Costs
   * one scan of the bucket's subjects on the server (~12 ms at 30,000 tasks, see gate-keys.ts)
   * per sync, i.e. once per store instance, plus a read per skipped key (none on a quiet
   * bucket).
   */
  async #fillSkipped(replayed: ReadonlySet<string>): Promise<void> {
    const skipped: string[] = [];
    for (const key of await this.#source.taskKeys()) {
      const id = idOfKey(key);
      if (id !== undefined && !replayed.has(id)) skipped.push(id);
    }
    for (let i = 0; i < skipped.length; i += MAX_PARALLEL_READS) {
      await Promise.all(skipped.slice(i, i + MAX_PARALLEL_READS).map((id) => this.#readInto(id)));
    }
  }

  /** Applies the stored entry of one task key (a read goes to the stream leader, see kv-task-store.ts). */
  async #readInto(id: string): Promise<void> {
    const entry = await this.#kv.get(taskKey(id));
    if (!entry) return;
    if (entry.operation !== 'PUT') this.apply(id, entry.revision, null);
    else {
      try {
        this.apply(id, entry.revision, decodeHead(entry.value, entry.revision), entry.value.slice());
      } catch {
        // Not a Reeve record: not claimable, not listed (as in #onWatch).
      }
    }
  }

  #reach(revision: number): Promise<void> {
    if (this.#seen >= revision) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(new ReeveError(ErrorCode.StoreUnavailable, `the KV watch did not catch up with revision ${revision} in ${SYNC_TIMEOUT_MS} ms`));
      }, SYNC_TIMEOUT_MS);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.#waiters.push({ revision, resolve: done });
    });
  }

  #onWatch(entry: KvWatchEntry): void {
    const id = idOfKey(entry.key);
    if (id !== undefined) this.#replayed?.add(id);
    // Skips what this instance already applied (its own writes, acked before the watch echo).
    if (id !== undefined && (this.#entries.get(id)?.revision ?? 0) < entry.revision) {
      if (entry.operation === 'PUT') {
        try {
          // A copy: the entry's bytes are a view into the client's read buffer.
          this.apply(id, entry.revision, decodeHead(entry.value, entry.revision), entry.value.slice());
        } catch {
          // Not a Reeve record (someone wrote the bucket by hand): not claimable, not listed.
        }
      } else this.apply(id, entry.revision, null);
    }
    if (entry.revision > this.#seen) {
      this.#seen = entry.revision;
      const due = this.#waiters.filter((w) => w.revision <= this.#seen);
      if (due.length) {
        this.#waiters = this.#waiters.filter((w) => w.revision > this.#seen);
        for (const w of due) w.resolve();
      }
    }
  }

  /**
   * Records what a read, a write or the watch saw of a task (`null`: deleted). `value`, the
   * stored bytes, is kept while the task is claimable (see IndexEntry.value).
   */
  apply(id: string, revision: number, head: TaskHead | null, value?: Uint8Array): void {
    const old = this.#entries.get(id);
    if (old && old.revision >= revision) return;
    const deletedAt = this.#deleted.get(id);
    if (deletedAt !== undefined && deletedAt >= revision) return;
    if (old) this.#unlink(old);
    if (head === null) {
      this.#mine.delete(id);
      this.#entries.delete(id);
      this.#deleted.set(id, revision);
      if (this.#deleted.size > MAX_DELETED) this.#pruneDeleted();
      return;
    }
    if (deletedAt !== undefined) this.#deleted.delete(id);
    const entry: IndexEntry = { id, revision, head };
    this.#entries.set(id, entry);
    this.#counts.set(head.state, (this.#counts.get(head.state) ?? 0) + 1);
    if (head.state === 'queued') this.#queuedByKind.set(head.kind, (this.#queuedByKind.get(head.kind) ?? 0) + 1);
    if (head.owner !== undefined || !QUEUE_STATES.has(head.state)) this.#mine.delete(id);
    if (head.outbox?.length) this.#outboxed.set(id, entry);
    if (head.owner !== undefined) this.#leased.set(id, entry);
    else if (QUEUE_STATES.has(head.state)) this.#queue.insert(entry);
    else if (CLEANUP_STATES.has(head.state)) this.#cleanup.insert(entry);
    if (value !== undefined && head.owner === undefined && (QUEUE_STATES.has(head.state) || CLEANUP_STATES.has(head.state))) entry.value = value;
  }

  /**
   * Forgets deletions the watch has passed: every older message of those keys has been seen by
   * then, so only a very late ack of this instance's own write could still bring one back. Keeps
   * `reeve purge` of many tasks from leaving an entry per task in every node's memory.
   */
  #pruneDeleted(): void {
    for (const [id, revision] of this.#deleted) if (revision <= this.#seen) this.#deleted.delete(id);
  }

  /** The stored bytes of a claimable task at the revision this index holds, when it has them. */
  claimable(id: string): { value: Uint8Array; revision: number } | undefined {
    const entry = this.#entries.get(id);
    return entry?.value === undefined ? undefined : { value: entry.value, revision: entry.revision };
  }

  #unlink(entry: IndexEntry): void {
    const { state, owner } = entry.head;
    const n = (this.#counts.get(state) ?? 0) - 1;
    if (n > 0) this.#counts.set(state, n);
    else this.#counts.delete(state);
    if (state === 'queued') {
      const q = (this.#queuedByKind.get(entry.head.kind) ?? 0) - 1;
      if (q > 0) this.#queuedByKind.set(entry.head.kind, q);
      else this.#queuedByKind.delete(entry.head.kind);
    }
    this.#outboxed.delete(entry.id);
    if (owner !== undefined) this.#leased.delete(entry.id);
    else if (QUEUE_STATES.has(state)) this.#queue.remove(entry);
    else if (CLEANUP_STATES.has(state)) this.#cleanup.remove(entry);
  }

  /**
   * Marks a task this instance just created (its intake did): claims of this instance prefer
   * it (see `candidates`) until it is claimed, leaves the queue or is deleted.
   */
  created(id: string): void {
    const entry = this.#entries.get(id);
    if (entry && entry.head.owner === undefined && QUEUE_STATES.has(entry.head.state)) this.#mine.add(id);
  }

  /**
   * Up to `need` claim candidates in claim order: cleanup (cancelling, compensating) first in
   * FIFO order, then queued/backoff by priority, FIFO within one. Walks past entries that fail
   * the filter (not yet available, excluded breaker key, other kind).
   *
   * Affinity: among the first `need × AFFINITY_WINDOW` claimable queued entries, tasks this
   * instance created go first within their priority. Every node's index holds the same queue,
   * so without it two nodes race for the same head tasks and the loser pays a failed
   * compare-and-set and a read (13 % of claims with two nodes in bench:cluster); with it each
   * node mostly claims what its own intake pulled. Bound: a task claimable for
   * AFFINITY_MAX_WAIT_MS ranks as own, so no task is overtaken for longer than that (the
   * intake keeps few tasks queued in the store, so its own are young).
   */
  candidates(filter: ClaimFilter, need: number, skip: (id: string) => boolean): IndexEntry[] {
    const found: IndexEntry[] = [];
    for (const entry of this.#cleanup.items) {
      if (found.length >= need) return found;
      if (!skip(entry.id) && isClaimable(entry.head, filter)) found.push(entry);
    }
    const want = need - found.length;
    const window: IndexEntry[] = [];
    let mine = 0;
    for (const entry of this.#queue.items) {
      if (window.length >= want * AFFINITY_WINDOW || (mine === 0 && this.#mine.size === 0 && window.length >= want)) break;
      if (!skip(entry.id) && isClaimable(entry.head, filter)) {
        window.push(entry);
        if (this.#mine.has(entry.id)) mine++;
      }
    }
    if (mine > 0 && window.length > want) {
      // Stable: priority first (the window is in claim order), then this instance's own tasks.
      const rank = (e: IndexEntry) => (this.#mine.has(e.id) || filter.now - e.head.availableAt >= AFFINITY_MAX_WAIT_MS ? 0 : 1);
      window.sort((a, b) => b.head.priority - a.head.priority || rank(a) - rank(b));
    }
    for (const entry of window) {
      if (found.length >= need) break;
      found.push(entry);
    }
    return found;
  }

  /** Tasks whose record lists notifications still to be moved to the outbox: O(such tasks). */
  outboxed(): IterableIterator<IndexEntry> {
    return this.#outboxed.values();
  }

  /** Tasks someone holds a lease on: O(in-flight work), whatever the size of the bucket. */
  leased(): IterableIterator<IndexEntry> {
    return this.#leased.values();
  }

  /** Every task, newest first (creation order), optionally of one state and kind: O(n log n). */
  newestFirst(state?: TaskState, kind?: string): IndexEntry[] {
    const matches: IndexEntry[] = [];
    for (const entry of this.#entries.values()) {
      if ((state === undefined || entry.head.state === state) && (kind === undefined || entry.head.kind === kind)) matches.push(entry);
    }
    return matches.sort((a, b) => b.head.seq - a.head.seq);
  }

  counts(): Partial<Record<TaskState, number>> {
    return Object.fromEntries(this.#counts);
  }

  /** Queued tasks of these kinds, O(kinds). */
  queuedOf(kinds: Iterable<string>): number {
    let n = 0;
    for (const kind of kinds) n += this.#queuedByKind.get(kind) ?? 0;
    return n;
  }

  close(): void {
    this.#closed = true;
    const stop = this.#stopWatch;
    this.#stopWatch = undefined;
    stop?.();
  }
}
