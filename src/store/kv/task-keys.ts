import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { ErrorCode, ReeveError, TaskNotFoundError, toError } from '../../errors.ts';
import { decodeDoc, encodeDoc, headOf, taskKey, type TaskDoc } from './codec.ts';
import type { AckedPublisher } from './acked-publisher.ts';
import type { TaskIndex } from './task-index.ts';
import type { TaskState } from '../../protocol/task-states.ts';

export interface Versioned {
  doc: TaskDoc;
  revision: number;
}

/** What `mutate` leaves: the record now stored, and the state it replaced (undefined: nothing was written). */
export interface Mutated extends Versioned {
  from?: TaskState;
}

/** How often a read-check-write is redone after losing a compare-and-set race before giving up. */
const MAX_RETRIES = 20;

/** A compare-and-set that lost: the key's last revision is not the one expected. */
export function isCasConflict(err: unknown): boolean {
  if (err instanceof JetStreamApiError) {
    return err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown;
  }
  return /wrong last sequence/i.test(toError(err).message);
}

/** NATS failures (timeouts, no responders, a closed connection, a payload over max_payload) as STORE_UNAVAILABLE. */
export function storeError(err: unknown, what: string): Error {
  if (err instanceof ReeveError) return err;
  const e = toError(err);
  const hint = /max_payload|MAX_PAYLOAD/i.test(e.message) ? ' (the record is larger than the server\'s max_payload: raise max_payload on every nats-server)' : '';
  return new ReeveError(ErrorCode.StoreUnavailable, `KV task store: ${what} failed: ${e.message}${hint}`, { cause: err });
}

/** Bound on the owner cache (entries normally leave it when their task is released). */
const MAX_HELD = 10_000;

/**
 * Reads and compare-and-set writes of task keys. Every read and successful write is fed to
 * the index, so this instance always sees its own writes in claims and queries.
 *
 * Owner cache: the last record this instance wrote for each task it holds a lease on. An
 * owner's next write (transition, heartbeat) carries the revision it got back; when that is
 * the cached revision the write skips the read: the CAS succeeds only if the stored entry is
 * still that revision, i.e. exactly the cached record, so checks on it are checks on the
 * truth. A CAS that loses or a check that fails on the cached record is redone on a fresh
 * read, so errors are the ones a fresh read gives. Saves one round trip per owner write.
 */
export class TaskKeys {
  /** Encoded, so that callers mutating what a write returned cannot change the cache. */
  readonly #held = new Map<string, { value: Uint8Array; revision: number }>();

  /**
   * `fastWrites`, once it resolves to a publisher, sends the compare-and-set writes itself
   * (kv.create / kv.update without the client's per-request cost, see acked-publisher.ts) on
   * `<subjectPrefix><key>`, the bucket's subjects; undefined: through `kv` (a replicated
   * bucket, whose `kv` may check its updates in ways a bare publish would skip).
   */
  constructor(
    readonly kv: KV,
    readonly index: TaskIndex,
    private readonly fastWrites: Promise<Pick<AckedPublisher, 'publish'> | undefined> = Promise.resolve(undefined),
    private readonly subjectPrefix = '',
  ) {}

  async read(id: string): Promise<Versioned | undefined> {
    const found = await this.readState(id);
    return found === 'deleted' ? undefined : found;
  }

  /**
   * `read`, telling a deleted task (its key's last entry is a delete or purge marker, which
   * every delete and `reeve purge` leaves) from a key with no entry at all (undefined).
   */
  async readState(id: string): Promise<Versioned | 'deleted' | undefined> {
    let entry;
    try {
      entry = await this.kv.get(taskKey(id));
    } catch (err) {
      throw storeError(err, `reading task ${id}`);
    }
    const held = this.#held.get(id);
    if (held && held.revision !== entry?.revision) this.#held.delete(id);
    if (!entry) return undefined;
    if (entry.operation !== 'PUT') {
      this.index.apply(id, entry.revision, null);
      return 'deleted';
    }
    const doc = decodeDoc(id, entry.value, entry.revision);
    this.index.apply(id, entry.revision, headOf(doc, entry.revision), entry.value);
    return { doc, revision: entry.revision };
  }

  /** `kv.create`: the new revision, or undefined when the key already holds a task. */
  async create(doc: TaskDoc): Promise<number | undefined> {
    const value = encodeDoc(doc);
    const writes = await this.fastWrites;
    let revision: number;
    try {
      revision = writes ? await writes.publish(this.subjectPrefix + taskKey(doc.id), value, 0) : await this.kv.create(taskKey(doc.id), value);
    } catch (err) {
      if (!isCasConflict(err)) throw storeError(err, `creating task ${doc.id}`);
      if (!writes) return undefined;
      // Taken, or deleted (its delete marker is the key's last message): kv.create tells them
      // apart and re-creates a deleted key on the marker's revision.
      try {
        revision = await this.kv.create(taskKey(doc.id), value);
      } catch (again) {
        if (isCasConflict(again)) return undefined;
        throw storeError(again, `creating task ${doc.id}`);
      }
    }
    this.index.apply(doc.id, revision, headOf(doc, revision), value);
    this.index.created(doc.id);
    return revision;
  }

  /** `kv.update` against `expected`: the new revision, or undefined when another write got there first. */
  async write(doc: TaskDoc, expected: number): Promise<number | undefined> {
    const value = encodeDoc(doc);
    const writes = await this.fastWrites;
    let revision: number;
    try {
      revision = writes ? await writes.publish(this.subjectPrefix + taskKey(doc.id), value, expected) : await this.kv.update(taskKey(doc.id), value, expected);
    } catch (err) {
      if (isCasConflict(err)) return undefined;
      throw storeError(err, `writing task ${doc.id}`);
    }
    this.index.apply(doc.id, revision, headOf(doc, revision), value);
    if (doc.owner === undefined) this.#held.delete(doc.id);
    else {
      if (this.#held.size >= MAX_HELD) this.#held.clear();
      this.#held.set(doc.id, { value, revision });
    }
    return revision;
  }

  /**
   * Read, check, compare-and-set. `change` applies the shared write rules to the fresh record
   * and returns the next one (undefined: nothing to write). When the CAS loses a race the whole
   * thing is redone on a fresh read, so the caller gets the error a sequential store would
   * give (a stale `revision` in the request now fails its rule check with STORE_CONFLICT, a
   * taken-over owner gets LEASE_LOST). `expected`: the revision the caller read, to use the
   * owner cache. The result's `from` is the state of the record the write replaced.
   */
  async mutate(id: string, change: (current: Versioned) => TaskDoc | undefined, expected?: number): Promise<Mutated> {
    const held = expected === undefined ? undefined : this.#held.get(id);
    let cached: Versioned | undefined =
      held !== undefined && held.revision === expected ? { doc: decodeDoc(id, held.value, held.revision), revision: held.revision } : undefined;
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      const current = cached ?? (await this.read(id));
      if (!current) throw new TaskNotFoundError(id);
      let next: TaskDoc | undefined;
      try {
        next = change(current);
      } catch (err) {
        if (!cached) throw err;
        cached = undefined; // confirm the refusal on a fresh read
        continue;
      }
      cached = undefined;
      if (next === undefined) return current;
      const revision = await this.write(next, current.revision);
      if (revision !== undefined) return { doc: next, revision, from: current.doc.state };
    }
    throw new ReeveError(ErrorCode.StoreConflict, `task ${id} changed under ${MAX_RETRIES} writes in a row; re-read it and retry`, {
      data: { taskId: id },
    });
  }
}
