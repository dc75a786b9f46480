import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { ErrorCode, ReeveError } from '../../errors.ts';
import type { Clock } from '../../ports/clock.ts';
import type { NotificationCounts, OutboxEntry, OutboxSettle } from '../../ports/outbox.ts';
import type { Notification } from '../../protocol/notification.ts';
import { OUTBOX_PREFIX, outboxKey } from './codec.ts';
import { isCasConflict, storeError } from './task-keys.ts';
import { holdIsOver } from '../notifications.ts';

/** An outbox entry as stored under `o.<notification id>`; its revision is the KV revision. */
export interface StoredOutbox {
  notification: Notification;
  state: 'pending' | 'failed';
  attempts: number;
  nextAttemptAt: number;
  lastError?: string;
  delivered: string[];
  owner?: string;
  leaseExpiresAt?: number;
  updatedAt: number;
  /**
   * The key of the record it was moved from (`t.<id>`, `b.<key>`), which must not list it any
   * more before it is delivered (see outbox-moves.ts); absent for entries written directly.
   */
  source?: string;
}

export interface Held {
  revision: number;
  value: StoredOutbox;
}

const SYNC_TIMEOUT_MS = 30_000;

export function toOutboxEntry(id: string, { revision, value }: Held): OutboxEntry {
  const entry: OutboxEntry = {
    id,
    notification: value.notification,
    state: value.state,
    attempts: value.attempts,
    nextAttemptAt: value.nextAttemptAt,
    delivered: value.delivered,
    revision,
    updatedAt: value.updatedAt,
  };
  if (value.lastError !== undefined) entry.lastError = value.lastError;
  if (value.owner !== undefined) entry.owner = value.owner;
  if (value.leaseExpiresAt !== undefined) entry.leaseExpiresAt = value.leaseExpiresAt;
  return entry;
}

/**
 * The `o.` keys of the bucket: one key per notification, claimed and settled by
 * compare-and-set on its revision like a task. A delivered entry is purged (by CAS); a
 * given-up one stays `failed` until purged.
 *
 * Every store instance that claims or counts keeps a map of the entries, fed by a KV watch on
 * `o.>` and by its own writes (a hint, as the task index is: a claim is decided by its CAS). It
 * holds only pending and failed entries, so it stays small: no per-round scan of the bucket.
 */
export class OutboxKeys {
  readonly #entries = new Map<string, Held>();
  #ready: Promise<void> | undefined;
  #stop: (() => void) | undefined;
  #seen = 0;
  #waiters: Array<{ revision: number; resolve: () => void }> = [];
  #closed = false;

  constructor(
    private readonly kv: KV,
    private readonly jsm: JetStreamManager,
    private readonly bucket: string,
    private readonly clock: Clock,
  ) {}

  /** Starts the watch on first use and waits until it has caught up with every entry written before the call. */
  ready(): Promise<void> {
    if (this.#closed) return Promise.reject(new ReeveError(ErrorCode.StoreUnavailable, 'the KV task store is closed'));
    this.#ready ??= this.#start().catch((err: unknown) => {
      this.#ready = undefined;
      this.#stop?.();
      throw storeError(err, 'watching the notification outbox');
    });
    return this.#ready;
  }

  async #start(): Promise<void> {
    const watch = await this.kv.watch({ key: `${OUTBOX_PREFIX}>` });
    this.#stop = () => watch.stop();
    void (async () => {
      for await (const entry of watch) this.#onWatch(entry);
    })()
      .catch(() => undefined)
      .finally(() => {
        // The next call starts a new watch rather than trusting a frozen map.
        if (this.#stop) this.#ready = undefined;
      });
    const last = await this.jsm.streams.getMessage(`KV_${this.bucket}`, { last_by_subj: `$KV.${this.bucket}.${OUTBOX_PREFIX}>` }).catch(() => null);
    await this.#reach(last?.seq ?? 0);
  }

  #reach(revision: number): Promise<void> {
    if (this.#seen >= revision) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w.resolve !== done);
        reject(new Error(`the outbox watch did not catch up with revision ${revision} in ${SYNC_TIMEOUT_MS} ms`));
      }, SYNC_TIMEOUT_MS);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.#waiters.push({ revision, resolve: done });
    });
  }

  #onWatch(entry: KvWatchEntry): void {
    const id = entry.key.slice(OUTBOX_PREFIX.length);
    if (entry.operation === 'PUT') {
      try {
        this.#apply(id, entry.revision, entry.json<StoredOutbox>());
      } catch {
        // Not a Reeve entry (written by hand): ignored.
      }
    } else this.#apply(id, entry.revision, null);
    if (entry.revision > this.#seen) {
      this.#seen = entry.revision;
      const due = this.#waiters.filter((w) => w.revision <= this.#seen);
      this.#waiters = this.#waiters.filter((w) => w.revision > this.#seen);
      for (const w of due) w.resolve();
    }
  }

  /** Applies what a write or the watch saw, if newer than what the map holds (`null`: gone). */
  #apply(id: string, revision: number, value: StoredOutbox | null): void {
    const held = this.#entries.get(id);
    if (held && held.revision >= revision) return;
    if (value === null) this.#entries.delete(id);
    else this.#entries.set(id, { revision, value });
  }

  /** Writes a new entry; false when one with that id exists (or existed: a purged id is never re-created here). */
  async create(value: StoredOutbox): Promise<Held | undefined> {
    const id = value.notification.id;
    try {
      const revision = await this.kv.create(outboxKey(id), JSON.stringify(value));
      this.#apply(id, revision, value);
      return { revision, value };
    } catch (err) {
      if (isCasConflict(err)) return undefined;
      throw storeError(err, `writing notification ${id}`);
    }
  }

  /** Pending entries due now whose hold is over for `claimer` (see holdIsOver), oldest due first, from the map. */
  candidates(now: number, limit: number, claimer: { owner: string; deadOwnerPrefix?: string | undefined }): Array<[string, Held]> {
    const due: Array<[string, Held]> = [];
    for (const pair of this.#entries) {
      const v = pair[1].value;
      if (v.state === 'pending' && v.nextAttemptAt <= now && holdIsOver(v, claimer, now)) due.push(pair);
    }
    return due.sort((a, b) => a[1].value.nextAttemptAt - b[1].value.nextAttemptAt).slice(0, limit);
  }

  /** Compare-and-set of an entry; undefined when it changed since `revision`. */
  async update(id: string, value: StoredOutbox, revision: number): Promise<Held | undefined> {
    try {
      const next = await this.kv.update(outboxKey(id), JSON.stringify(value), revision);
      this.#apply(id, next, value);
      return { revision: next, value };
    } catch (err) {
      if (isCasConflict(err)) return undefined;
      throw storeError(err, `writing notification ${id}`);
    }
  }

  async settle(req: OutboxSettle): Promise<void> {
    const notHeld = () =>
      new ReeveError(ErrorCode.LeaseLost, `notification ${req.id} is no longer held by ${req.owner} (delivered, given up, or claimed by another node after its lease expired); leave it`, {
        data: { notificationId: req.id, owner: req.owner },
      });
    let entry;
    try {
      entry = await this.kv.get(outboxKey(req.id));
    } catch (err) {
      throw storeError(err, `reading notification ${req.id}`);
    }
    if (!entry || entry.operation !== 'PUT' || entry.revision !== req.revision) throw notHeld();
    const current = entry.json<StoredOutbox>();
    if (current.owner !== req.owner || current.state !== 'pending') throw notHeld();
    if (req.outcome === 'delivered') {
      try {
        await this.kv.purge(outboxKey(req.id), { previousSeq: req.revision });
      } catch (err) {
        if (isCasConflict(err)) throw notHeld();
        throw storeError(err, `settling notification ${req.id}`);
      }
      this.#entries.delete(req.id);
      return;
    }
    const { owner: _owner, leaseExpiresAt: _lease, ...rest } = current;
    const next: StoredOutbox = {
      ...rest,
      state: req.outcome === 'retry' ? 'pending' : 'failed',
      attempts: current.attempts + 1,
      nextAttemptAt: req.outcome === 'retry' ? req.nextAttemptAt : current.nextAttemptAt,
      lastError: req.error,
      delivered: req.delivered,
      updatedAt: this.clock.now(),
    };
    if (!(await this.update(req.id, next, req.revision))) throw notHeld();
  }

  async counts(): Promise<NotificationCounts> {
    await this.ready();
    const counts: NotificationCounts = { pending: 0, failed: 0 };
    let last: { id: string; value: StoredOutbox } | undefined;
    for (const [id, { value }] of this.#entries) {
      counts[value.state]++;
      if (value.lastError !== undefined && (!last || value.updatedAt > last.value.updatedAt)) last = { id, value };
    }
    if (last) counts.lastError = { id: last.id, event: last.value.notification.event, at: last.value.updatedAt, message: last.value.lastError! };
    return counts;
  }

  async purgeFailed(before: number): Promise<number> {
    await this.ready();
    let purged = 0;
    for (const [id, { revision, value }] of [...this.#entries]) {
      if (value.state !== 'failed' || value.updatedAt >= before) continue;
      try {
        await this.kv.purge(outboxKey(id), { previousSeq: revision });
        this.#entries.delete(id);
        purged++;
      } catch (err) {
        if (!isCasConflict(err)) throw storeError(err, `purging notification ${id}`);
      }
    }
    return purged;
  }

  close(): void {
    this.#closed = true;
    const stop = this.#stop;
    this.#stop = undefined;
    stop?.();
  }
}
