import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { JetStreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import { ErrorCode, ReeveError, StoreConflictError } from '../../errors.ts';
import type { Clock } from '../../ports/clock.ts';
import type { BreakerRecord, GateStore, PreflightRecord } from '../../ports/gate-store.ts';
import type { NodeInfo, NodeRegistry } from '../../ports/node-registry.ts';
import { parseOrThrow } from '../../protocol/validate.ts';
import * as schemas from '../request-schemas.ts';
import { BREAKER_PREFIX, breakerKey, NODE_PREFIX, nodeKey, PREFLIGHT_PREFIX, preflightKey } from './codec.ts';
import { TOKEN_TTL_MS } from './serial-cas.ts';
import { isCasConflict, storeError } from './task-keys.ts';
import type { Notification } from '../../protocol/notification.ts';
import type { NotificationRecorder } from '../notifications.ts';

/** Most gets in flight at once for one listing. */
const MAX_PARALLEL = 256;

/**
 * The registry of breaker names (see the class comment): a plain key outside every prefix
 * that is scanned or watched (`b.>`, `t.>`, ...), like `dl-seq`.
 */
export const BREAKER_NAMES_KEY = 'b-names';
/** How often listBreakers also scans for breakers the registry misses (and adds them). */
const BREAKER_RESCAN_MS = 60_000;

/** A breaker as stored under `b.<key>`: the key is the KV key's tail, the revision the entry's. */
type StoredBreaker = Omit<BreakerRecord, 'key' | 'revision'> & {
  /** breaker.opened / breaker.closed notifications not yet moved to the outbox (outbox-keys.ts). */
  outbox?: Notification[];
};
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
 * - putPreflight is a plain put (last writer wins, as SQLite's upsert). recordNode is a
 *   compare-and-set that keeps a later incarnation's record: a late beacon of an incarnation
 *   that started earlier (a paused old process) is dropped, as SQLite's upsert drops it.
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
 * - listBreakers is the exception: the dispatcher calls it before every claim round, and the
 *   server answers a subjects_filter request by scanning every subject of the bucket, tasks
 *   included (measured: ~1 ms with no tasks, 2.7 ms at 10,000, 11.6 ms at 30,000; finished
 *   tasks stay in the bucket). So the names of breakers are also kept in a registry key,
 *   `b-names` (a sorted JSON array, changed by compare-and-set), which whoever creates a
 *   breaker updates right after the create, and which a writer that finds a breaker already
 *   created re-checks. A listing is one get of the registry plus one get per breaker, O(1) on
 *   the server; a store instance's first listing, and one a minute after that, also scans and
 *   adds what the registry misses (a creator that died between its two writes, a breaker
 *   from a Reeve that had no registry).
 */
/**
 * What a listing accepts: the write schemas without their ban on unknown fields, so records
 * a newer Reeve wrote with more fields are still listed. A node's counts are not checked here
 * (a newer Reeve may count a state this one does not know); status only prints them.
 */
const readableBreaker = schemas.breakerWriteSchema.loose();
const readablePreflight = schemas.preflightRecordSchema.loose();
const readableNode = schemas.nodeInfoSchema.omit({ taskCounts: true }).extend({ state: z.enum(['up', 'draining', 'stopped', 'dead']) }).loose();

export class KvGateKeys implements GateStore, NodeRegistry {
  readonly #stream: string;
  readonly #subjectPrefix: string;
  /** Breaker names known to exist: from the registry, scans and this instance's own writes. */
  readonly #breakerNames = new Set<string>();
  #scannedAt = Number.NEGATIVE_INFINITY;
  #breakerScan: Promise<void> | undefined;

  constructor(
    private readonly kv: KV,
    private readonly jsm: JetStreamManager,
    bucket: string,
    private readonly clock: Clock,
    private readonly recorder: NotificationRecorder,
  ) {
    this.#stream = `KV_${bucket}`;
    this.#subjectPrefix = `$KV.${bucket}.`;
  }

  /** Every claim round asks for these: O(breakers), see the class comment. */
  async listBreakers(): Promise<BreakerRecord[]> {
    let names: string[];
    try {
      names = await this.#currentBreakerNames();
    } catch (err) {
      throw storeError(err, 'listing breakers');
    }
    // Any JSON object is kept: a breaker that is not a sound record (written by hand, a state a
    // newer Reeve knows) is listed as closed with no snapshot, at its real revision, so the
    // next report on the key overwrites it by compare-and-set instead of failing to create it.
    const found = await this.#read<StoredBreaker>(BREAKER_PREFIX, names, 'listing breakers', () => true);
    return found.map(({ name, value, revision }) => {
      const sound = readableBreaker.safeParse({ key: name, state: value.state, openUntil: value.openUntil, snapshot: value.snapshot }).success && typeof value.updatedAt === 'number';
      if (!sound) return { key: name, state: 'closed' as const, snapshot: undefined, revision, updatedAt: 0 };
      return {
        key: name,
        state: value.state,
        ...(value.openUntil === undefined ? {} : { openUntil: value.openUntil }),
        snapshot: value.snapshot,
        revision,
        updatedAt: value.updatedAt,
      };
    });
  }

  /** The registry's names and every name this instance knows; a scan first when the last one is over BREAKER_RESCAN_MS old. */
  async #currentBreakerNames(): Promise<string[]> {
    if (performance.now() - this.#scannedAt >= BREAKER_RESCAN_MS) {
      this.#breakerScan ??= this.#rescanBreakers().finally(() => {
        this.#breakerScan = undefined;
      });
      await this.#breakerScan;
    }
    for (const name of (await this.#registry()).names) this.#breakerNames.add(name);
    return [...this.#breakerNames];
  }

  /** Scans for breaker keys and registers those the registry lacks. */
  async #rescanBreakers(): Promise<void> {
    const startedAt = performance.now();
    const scanned = await this.#scan(BREAKER_PREFIX);
    for (const name of scanned) this.#breakerNames.add(name);
    if (scanned.length > 0) await this.#register(scanned);
    this.#scannedAt = startedAt;
  }

  /** The registry's names; `revision` 0 when there is no live registry (none yet, or deleted). */
  async #registry(): Promise<{ names: string[]; revision: number }> {
    const entry = await this.kv.get(BREAKER_NAMES_KEY);
    if (!entry || entry.operation !== 'PUT') return { names: [], revision: 0 };
    let names: unknown;
    try {
      names = entry.json();
    } catch {
      names = []; // not JSON (written by hand): the next registration replaces it
    }
    return { names: Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string') : [], revision: entry.revision };
  }

  /** Adds `names` to the registry (compare-and-set, redone on a lost race). */
  async #register(names: readonly string[]): Promise<void> {
    for (let attempt = 0; attempt < 20; attempt++) {
      const { names: current, revision } = await this.#registry();
      const missing = names.filter((name) => !current.includes(name));
      if (missing.length === 0) return;
      const next = JSON.stringify([...current, ...missing].sort());
      try {
        // kv.create also re-creates a deleted registry (on its delete marker's revision).
        await (revision === 0 ? this.kv.create(BREAKER_NAMES_KEY, next) : this.kv.update(BREAKER_NAMES_KEY, next, revision));
        return;
      } catch (err) {
        if (!isCasConflict(err)) throw err;
      }
    }
    throw new Error(`the breaker registry ${BREAKER_NAMES_KEY} changed under 20 writes in a row`);
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
    // Read first: the change may be a notification, and notifications of earlier changes that
    // are still in the record must be carried over (the write replaces the whole value).
    const previous = await this.#current(key, r.key, expectedRevision).catch(async (err: unknown) => {
      // A create that lost: its winner may have died before registering the name.
      if (expectedRevision === 0 && err instanceof StoreConflictError) await this.#register([r.key]).catch(() => undefined);
      throw err;
    });
    const outbox = [...(previous?.outbox ?? [])];
    const notification = this.recorder.forBreaker(r, previous?.state ?? 'closed', stored.updatedAt);
    if (notification) outbox.push(notification);
    if (outbox.length > 0) stored.outbox = outbox;
    const value = JSON.stringify(stored);
    // Written or found taken: either way the key exists, so this instance lists it from now on.
    this.#breakerNames.add(r.key);
    let revision: number;
    try {
      revision = expectedRevision === 0 ? await this.kv.create(key, value) : await this.kv.update(key, value, expectedRevision);
    } catch (err) {
      if (!isCasConflict(err)) throw storeError(err, `writing breaker ${r.key}`);
      // A create that lost: its winner may have died before registering the name.
      if (expectedRevision === 0) await this.#register([r.key]).catch(() => undefined);
      // Only on a lost race: read the winner's revision for the error (as SQLite reports it).
      throw new StoreConflictError(`breaker:${r.key}`, expectedRevision, await this.#revisionOf(key));
    }
    // The breaker is written; if the registry cannot be (an outage), a later create attempt
    // or a scan (within BREAKER_RESCAN_MS) registers it.
    if (expectedRevision === 0) await this.#register([r.key]).catch(() => undefined);
    return revision;
  }

  /** The breaker at `expectedRevision` (undefined: none yet), or the conflict a CAS against it would end in. */
  async #current(key: string, name: string, expectedRevision: number): Promise<Partial<StoredBreaker> | undefined> {
    let entry;
    try {
      entry = await this.kv.get(key);
    } catch (err) {
      throw storeError(err, `reading breaker ${name}`);
    }
    const live = entry?.operation === 'PUT' ? entry : undefined;
    if ((live?.revision ?? 0) !== expectedRevision) throw new StoreConflictError(`breaker:${name}`, expectedRevision, live?.revision);
    try {
      return live?.json<Partial<StoredBreaker>>();
    } catch {
      return undefined; // not JSON (written by hand): replaced
    }
  }

  /** Breakers whose record holds notifications not yet moved to the outbox. */
  async breakerOutboxes(): Promise<Array<{ key: string; outbox: Notification[] }>> {
    const found = await this.#read<StoredBreaker>(BREAKER_PREFIX, await this.#currentBreakerNames(), 'listing breaker notifications', (_, v) => Array.isArray(v.outbox) && v.outbox.length > 0);
    return found.map(({ name, value }) => ({ key: name, outbox: value.outbox! }));
  }

  /** Removes moved notifications from a breaker's record (compare-and-set, redone on a lost race). */
  async dropBreakerOutbox(name: string, ids: ReadonlySet<string>): Promise<void> {
    const key = breakerKey(name);
    for (let attempt = 0; attempt < 20; attempt++) {
      const entry = await this.kv.get(key);
      if (!entry || entry.operation !== 'PUT') return;
      const value = entry.json<StoredBreaker>();
      const rest = (value.outbox ?? []).filter((n) => !ids.has(n.id));
      if (rest.length === (value.outbox ?? []).length) return;
      const { outbox: _moved, ...kept } = value;
      try {
        await this.kv.update(key, JSON.stringify(rest.length > 0 ? { ...kept, outbox: rest } : kept), entry.revision);
        return;
      } catch (err) {
        if (!isCasConflict(err)) throw storeError(err, `moving the notifications of breaker ${name}`);
      }
    }
    throw new ReeveError(ErrorCode.StoreConflict, `breaker ${name} changed under 20 writes in a row while moving its notifications; the next round retries`);
  }

  async listPreflight(): Promise<PreflightRecord[]> {
    const found = await this.#list<StoredPreflight>(PREFLIGHT_PREFIX, 'listing preflight results', (name, v) => readablePreflight.safeParse({ ...v, kind: name }).success);
    return found.map(({ name, value }) => ({ kind: name, ok: value.ok, reason: value.reason, checkedAt: value.checkedAt }));
  }

  async putPreflight(record: PreflightRecord): Promise<void> {
    const { kind, ok, reason, checkedAt } = parseOrThrow(schemas.preflightRecordSchema, record, 'preflight result');
    const stored: StoredPreflight = { ok, reason, checkedAt };
    await this.#put(preflightKey(kind), stored, `writing the preflight result of ${kind}`);
  }

  /**
   * One key per node id. A beacon replaces the record unless the record belongs to another
   * incarnation that started later: then the beacon comes from an older process (paused, cut
   * off) and is dropped, so `reeve status` never shows a dead incarnation over a live one.
   */
  async recordNode(info: NodeInfo): Promise<void> {
    const { id, taskCounts, ...rest } = parseOrThrow(schemas.nodeInfoSchema, info, 'node info');
    const stored: StoredNode = { ...rest, ...(taskCounts !== undefined ? { taskCounts } : {}) };
    const key = nodeKey(id);
    const what = `recording node ${id}`;
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        const entry = await this.kv.get(key);
        const live = entry?.operation === 'PUT' ? entry : undefined;
        let current: Partial<StoredNode> | undefined;
        try {
          current = live?.json<Partial<StoredNode>>();
        } catch {
          current = undefined; // not JSON (written by hand): replaced
        }
        if (current && current.incarnation !== stored.incarnation && typeof current.startedAt === 'number' && current.startedAt > stored.startedAt) return;
        const value = JSON.stringify(stored);
        await (live ? this.kv.update(key, value, live.revision) : this.kv.create(key, value));
        return;
      } catch (err) {
        if (!isCasConflict(err)) throw storeError(err, what);
        // Another writer moved the record on, or (R3 on 2.9.10) a write token of this revision
        // is held, maybe by a killed incarnation, until it expires: pause before re-reading.
        await sleep(Math.min(20 * 2 ** attempt, 500));
      }
    }
    throw storeError(
      new Error(`too many concurrent writers of one node record (or its revision is held by the write token of a killed process for up to ${TOKEN_TTL_MS / 1000} s)`),
      what,
    );
  }

  async listNodes(): Promise<NodeInfo[]> {
    const found = await this.#list<StoredNode>(NODE_PREFIX, 'listing nodes', (name, v) => readableNode.safeParse({ ...v, id: name }).success);
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
      ...(isCounts(value.taskCounts) ? { taskCounts: value.taskCounts } : {}),
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
  async #list<T>(prefix: string, what: string, valid: (name: string, value: T) => boolean): Promise<Array<{ name: string; value: T; revision: number }>> {
    let names: string[];
    try {
      names = await this.#scan(prefix);
    } catch (err) {
      throw storeError(err, what);
    }
    return this.#read<T>(prefix, names, what, valid);
  }

  /**
   * The names of every key under `prefix` with any entry left, deleted ones included: one
   * stream info request, answered by a scan of every subject of the bucket on the server
   * (O(keys), tasks included: ~3 ms at 10,000 tasks, ~12 ms at 30,000, measured).
   */
  async #scan(prefix: string): Promise<string[]> {
    const info = await this.jsm.streams.info(this.#stream, { subjects_filter: `${this.#subjectPrefix}${prefix}>` });
    return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(this.#subjectPrefix.length + prefix.length));
  }

  /**
   * The live values of `names` under `prefix`, read fresh and sorted by name. Deleted ones are
   * left out, and so are values that are not the record `valid` expects (written by hand, or
   * by a newer Reeve with other fields): one bad key must not break status or claims. A value
   * that is not a JSON object reaches `valid` as `{}`.
   */
  async #read<T>(prefix: string, names: readonly string[], what: string, valid: (name: string, value: T) => boolean): Promise<Array<{ name: string; value: T; revision: number }>> {
    const keys = names.map((name) => `${prefix}${name}`);
    try {
      const found: Array<{ name: string; value: T; revision: number }> = [];
      for (let i = 0; i < keys.length; i += MAX_PARALLEL) {
        const entries = await Promise.all(keys.slice(i, i + MAX_PARALLEL).map((key) => this.kv.get(key)));
        for (const entry of entries) {
          if (!entry || entry.operation !== 'PUT') continue;
          let parsed: unknown;
          try {
            parsed = entry.json<unknown>();
          } catch {
            parsed = undefined; // not JSON
          }
          const name = entry.key.slice(prefix.length);
          const value = (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : {}) as T;
          if (!valid(name, value)) continue;
          found.push({ name, value, revision: entry.revision });
        }
      }
      return found.sort(byName);
    } catch (err) {
      throw storeError(err, what);
    }
  }
}

/** Counts per state: an object of non-negative integers (state names unchecked, see readableNode). */
function isCounts(value: unknown): value is NonNullable<NodeInfo['taskCounts']> {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && Object.values(value).every((n) => Number.isSafeInteger(n) && (n as number) >= 0);
}
