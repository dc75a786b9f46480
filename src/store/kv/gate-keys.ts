import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { StoreConflictError } from '../../errors.ts';
import type { Clock } from '../../ports/clock.ts';
import type { BreakerRecord, GateStore, PreflightRecord } from '../../ports/gate-store.ts';
import type { NodeInfo, NodeRegistry } from '../../ports/node-registry.ts';
import { parseOrThrow } from '../../protocol/validate.ts';
import * as schemas from '../request-schemas.ts';
import { BREAKER_PREFIX, breakerKey, NODE_PREFIX, nodeKey, PREFLIGHT_PREFIX, preflightKey } from './codec.ts';
import { isCasConflict, storeError } from './task-keys.ts';

/** Most gets in flight at once for one listing. */
const MAX_PARALLEL = 256;

/** A breaker as stored under `b.<key>`: the key is the KV key's tail, the revision the entry's. */
type StoredBreaker = Omit<BreakerRecord, 'key' | 'revision'>;
type StoredPreflight = Omit<PreflightRecord, 'kind'>;
type StoredNode = Omit<NodeInfo, 'id'>;

const byName = (a: { name: string }, b: { name: string }): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/**
 * Breakers, preflight results and node membership in the task bucket, under prefixes the task
 * index's watch (`t.>`) never sees: `b.<breaker key>`, `pf.<kind>`, `n.<node id>` (see codec.ts).
 *
 * - putBreaker is a compare-and-set on the KV revision, which is the record's `revision`:
 *   `kv.create` for expectedRevision 0, `kv.update` otherwise; a lost race is the same
 *   StoreConflictError the SQLite store throws. Revisions grow per key but not by 1.
 * - putPreflight and recordNode are plain puts (last writer wins, as SQLite's upserts).
 * - The listings run about once a second per node. The keys come from one stream info request
 *   with `subjects_filter: $KV.<bucket>.<prefix>>` (2.9.10 answers it; the client follows its
 *   paging), then one get per key, all in flight together: O(keys), two round trips whatever
 *   the count, nothing to keep open, and a listing reflects every write acknowledged before it
 *   started. Not `kv.keys(filter)`: it works on 2.9.10 with one filter, but each call creates an
 *   ordered push consumer that the client gives a 5-minute inactive_threshold, so a listing
 *   a second would leave hundreds of idle consumers per node on the server (measured; see
 *   test/integration/kv-store.test.ts), and it took ~4x longer. The subject list also names
 *   keys whose last entry is a delete; their get says so and they are left out. Sorted by
 *   name, as SQLite's ORDER BY.
 */
export class KvGateKeys implements GateStore, NodeRegistry {
  readonly #stream: string;
  readonly #subjectPrefix: string;

  constructor(
    private readonly kv: KV,
    private readonly jsm: JetStreamManager,
    bucket: string,
    private readonly clock: Clock,
  ) {
    this.#stream = `KV_${bucket}`;
    this.#subjectPrefix = `$KV.${bucket}.`;
  }

  async listBreakers(): Promise<BreakerRecord[]> {
    const found = await this.#list<StoredBreaker>(BREAKER_PREFIX, 'listing breakers');
    return found.map(({ name, value, revision }) => ({
      key: name,
      state: value.state,
      ...(value.openUntil === undefined ? {} : { openUntil: value.openUntil }),
      snapshot: value.snapshot,
      revision,
      updatedAt: value.updatedAt,
    }));
  }

  async putBreaker(record: Omit<BreakerRecord, 'revision' | 'updatedAt'>, expectedRevision: number): Promise<number> {
    const r = parseOrThrow(schemas.breakerWriteSchema, record, 'breaker');
    parseOrThrow(schemas.expectedRevisionArg, expectedRevision, 'breaker revision');
    const stored: StoredBreaker = {
      state: r.state,
      ...(r.openUntil === undefined ? {} : { openUntil: r.openUntil }),
      snapshot: r.snapshot,
      updatedAt: this.clock.now(),
    };
    const key = breakerKey(r.key);
    const value = JSON.stringify(stored);
    try {
      return expectedRevision === 0 ? await this.kv.create(key, value) : await this.kv.update(key, value, expectedRevision);
    } catch (err) {
      if (!isCasConflict(err)) throw storeError(err, `writing breaker ${r.key}`);
    }
    // Only on a lost race: read the winner's revision for the error (as SQLite reports it).
    throw new StoreConflictError(`breaker:${r.key}`, expectedRevision, await this.#revisionOf(key));
  }

  async listPreflight(): Promise<PreflightRecord[]> {
    const found = await this.#list<StoredPreflight>(PREFLIGHT_PREFIX, 'listing preflight results');
    return found.map(({ name, value }) => ({ kind: name, ok: value.ok, reason: value.reason, checkedAt: value.checkedAt }));
  }

  async putPreflight(record: PreflightRecord): Promise<void> {
    const { kind, ok, reason, checkedAt } = parseOrThrow(schemas.preflightRecordSchema, record, 'preflight result');
    const stored: StoredPreflight = { ok, reason, checkedAt };
    await this.#put(preflightKey(kind), stored, `writing the preflight result of ${kind}`);
  }

  /** One key per node id: the newest write (the running incarnation's beacon) replaces the last. */
  async recordNode(info: NodeInfo): Promise<void> {
    const { id, ...rest } = parseOrThrow(schemas.nodeInfoSchema, info, 'node info');
    const stored: StoredNode = rest;
    await this.#put(nodeKey(id), stored, `recording node ${id}`);
  }

  async listNodes(): Promise<NodeInfo[]> {
    const found = await this.#list<StoredNode>(NODE_PREFIX, 'listing nodes');
    return found.map(({ name, value }) => ({
      id: name,
      incarnation: value.incarnation,
      state: value.state,
      capacity: value.capacity,
      running: value.running,
      startedAt: value.startedAt,
      lastSeenAt: value.lastSeenAt,
      pid: value.pid,
      host: value.host,
    }));
  }

  async #put(key: string, value: unknown, what: string): Promise<void> {
    try {
      await this.kv.put(key, JSON.stringify(value));
    } catch (err) {
      throw storeError(err, what);
    }
  }

  async #revisionOf(key: string): Promise<number | undefined> {
    const entry = await this.kv.get(key).catch(() => null);
    return entry && entry.operation === 'PUT' ? entry.revision : undefined;
  }

  /**
   * Every live key under `prefix` with its value and revision, sorted by name. A deleted key
   * (its last entry a delete marker, or deleted between the listing and its get) is left out; a
   * value that is not JSON (written by hand) too.
   */
  async #list<T>(prefix: string, what: string): Promise<Array<{ name: string; value: T; revision: number }>> {
    try {
      const info = await this.jsm.streams.info(this.#stream, { subjects_filter: `${this.#subjectPrefix}${prefix}>` });
      const keys = Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(this.#subjectPrefix.length));
      const found: Array<{ name: string; value: T; revision: number }> = [];
      for (let i = 0; i < keys.length; i += MAX_PARALLEL) {
        const entries = await Promise.all(keys.slice(i, i + MAX_PARALLEL).map((key) => this.kv.get(key)));
        for (const entry of entries) {
          if (!entry || entry.operation !== 'PUT') continue;
          let value: T;
          try {
            value = entry.json<T>();
          } catch {
            continue;
          }
          found.push({ name: entry.key.slice(prefix.length), value, revision: entry.revision });
        }
      }
      return found.sort(byName);
    } catch (err) {
      throw storeError(err, what);
    }
  }
}
