/**
 * The cluster TaskStore: one NATS JetStream KV bucket, shared by every node. It passes the same
 * conformance suite as SQLite (`test/conformance/kv.test.ts`), with the same zod request
 * schemas and the same write rules (`../write-rules.ts`), so both refuse the same writes with
 * the same errors.
 *
 * LAYOUT (see codec.ts)
 * - `t.<id>`: the whole task (record, history, compensations, snapshot) in ONE value, so a
 *   state change and its history entry are one atomic write. The record's `revision` IS the KV
 *   revision of the entry (a stream sequence: per key it only grows, though not by 1), and
 *   every write is a compare-and-set on it: `kv.create` for submit, `kv.update(key, value,
 *   revisionRead)` for every other write. A lost race ("wrong last sequence") is redone on a
 *   fresh read, so the caller gets the error a sequential store gives (STORE_CONFLICT,
 *   LEASE_LOST, ...). The value is `<head JSON>\n<body JSON>`: the head is the ~150 bytes an
 *   index needs (state, kind, priority, breaker key, FIFO seq, availableAt, owner, lease,
 *   cancel flag), so watchers parse that line only.
 * - `a.<id>`: annotations, an array with its own CAS. Annotating never needs or bumps the
 *   task's revision, so it works on terminal tasks and never fences an owner.
 * - `dl.<n>` with counter `dl-seq`: dead letters, numbered like SQLite's rows.
 * - `b.<breaker key>`, `pf.<kind>`, `n.<node id>`: the GateStore and NodeRegistry records
 *   (gate-keys.ts), outside the index's watch on `t.>`; a breaker's revision is its KV revision.
 * - FIFO: `seq` is the revision of the task's `create` (its place in the bucket's stream),
 *   stored by the first update (the create cannot know it: 0 there means "this revision").
 *
 * QUERIES KV CANNOT ANSWER: each store instance keeps an in-memory index (task-index.ts) of the
 * head of every task, fed by a KV watch on `t.>` and by its own reads and writes (so it always
 * sees its own writes). It starts on the first call that needs it (a `get` never starts it)
 * and syncs by reading the revision of the newest task message and waiting for the watch to
 * pass it, then reads directly every task key (named by one stream info request) that the
 * watch's replay skipped, which it does for keys rewritten while it replays (task-index.ts).
 * It is only a hint: whatever it proposes is re-read and decided by CAS on the task key.
 * - claim: candidates from two sorted lists, cleanup (cancelling/compensating, FIFO) first,
 *   then queued/backoff by priority then FIFO, this instance's own young tasks first within a
 *   small window (affinity, task-index.ts); walks past unavailable/filtered entries. Each
 *   candidate: CAS update on the stored value the index keeps for claimable tasks (or get +
 *   CAS); a lost CAS is decided again on a fresh read, losers skip to the next (claim.ts).
 *   Pipelined across the batch. Atomic across connections because the CAS is.
 * - listStale / listOwned: scan of the leased entries (O(in flight)), then a get per result.
 * - listCancelRequests: scan of the leased entries, no read (the owner re-reads on write).
 * - query: filter + sort of all entries (O(n log n), n = tasks in the bucket; an operator
 *   command), then 2 gets per returned task (record, annotations). A task the index holds
 *   whose key has no entry at all is re-read a few times, then fails the query (queries.ts).
 * - countByState: counts maintained on every change, O(1).
 * Costs: memory ~250 B per task in the bucket (terminal ones included, since query and
 * countByState need them) per store instance, plus the stored value (~300 B-1 KB) of each
 * claimable one; network: every instance receives every task write in full (the watch cannot
 * deliver only the head line), i.e. write rate x value size x instances. Another connection's
 * write reaches the index within the watch latency (milliseconds); a listing may miss it for
 * that long, a claim may try a task another node just took (its CAS loses and it moves on) or
 * not see one just queued (the next claim does).
 *
 * ROUND TRIPS per task: submit 1 (create), claim 1 (a CAS on the value the index holds for
 * claimable tasks; 2, get + CAS, when it has none), each owner write (transition, heartbeat)
 * 1: the instance keeps the last record it wrote for tasks it holds (task-keys.ts) and skips
 * the read when the caller's revision is that one; a lost CAS or a refusal is redone on a
 * fresh read. transitionMany sends all its writes at once (pipelined, no multi-key
 * transaction: each commits or fails alone). On a single-replica bucket task writes are
 * published by AckedPublisher (acked-publisher.ts): the same JetStream publish with an
 * expected-last-sequence header as kv.create/kv.update, at a third of the client CPU (a
 * replicated bucket keeps kv.update, which serial-cas.ts may guard). Connections should be
 * opened with `noAsyncTraces: true`: otherwise the client builds an Error with a stack trace
 * per request, measured at ~25% of this adapter's CPU time.
 *
 * READS go to the stream leader (`allow_direct: false` in the client): a direct get may be
 * answered by a replica that has not applied the last write yet, and a rule check on such a
 * read would report a false STORE_CONFLICT for a revision the caller rightly holds.
 *
 * LIMITS of nats-server 2.9.10 / KV: no multi-key transactions (hence one value per task);
 * a record must fit the server's max_payload (default 1 MiB, less than a maximal 1 MiB input
 * plus its record: run the servers with a larger max_payload); no per-key TTL, so finished
 * tasks stay until an operator purges them (`reeve purge`, purge.ts; a bucket-level `ttl`
 * would also expire live ones).
 */
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import { TaskNotFoundError, toError } from '../../errors.ts';
import type { Clock } from '../../ports/clock.ts';
import type { BreakerRecord, PreflightRecord } from '../../ports/gate-store.ts';
import type { NodeInfo } from '../../ports/node-registry.ts';
import type { ReeveStore } from '../../ports/reeve-store.ts';
import type {
  ClaimRequest,
  DeadLetter,
  DeadLetterInput,
  DeadLetterPurge,
  FullTask,
  HeartbeatRequest,
  StaleRequeueOptions,
  StoredTask,
  SubmitResult,
  PurgeRequest,
  PurgeResult,
  TaskQuery,
  TaskWrite,
  TransitionRequest,
} from '../../ports/task-store.ts';
import type { TaskState } from '../../protocol/task-states.ts';
import { submitRequestSchema, type Annotation, type SubmitRequest, type TaskRecord } from '../../protocol/task.ts';
import { parseOrThrow } from '../../protocol/validate.ts';
import { systemClock } from '../../platform/system-clock.ts';
import * as schemas from '../request-schemas.ts';
import { newTaskId } from '../task-id.ts';
import { expectStreamLeaders } from './stream-leaders.ts';
import { AckedPublisher } from './acked-publisher.ts';
import { KvClaimer } from './claim.ts';
import { needsWriteTokens, openTokenBucket, withWriteTokens } from './serial-cas.ts';
import { TASK_WATCH_FILTER, toFull, toStored, toWrite } from './codec.ts';
import { KvGateKeys } from './gate-keys.ts';
import { purgeTasks } from './purge.ts';
import { KvQueries } from './queries.ts';
import { SideKeys } from './side-keys.ts';
import { TaskIndex } from './task-index.ts';
import { storeError, TaskKeys } from './task-keys.ts';
import { cancelRequestDoc, heartbeatDoc, newTaskDoc, reopenDoc, requeueStaleDoc, transitionDoc } from './transitions.ts';
import { NotificationRecorder } from '../notifications.ts';
import { KvOutbox } from './kv-outbox.ts';
import { OutboxKeys } from './outbox-keys.ts';
import type { DeadNodeReport, NotificationCounts, NotifyRecording, OutboxClaim, OutboxEntry, OutboxSettle } from '../../ports/outbox.ts';

export interface KvTaskStoreOptions {
  /** Not closed by the store: the caller owns it. */
  nc: NatsConnection;
  /** Created when missing (history `history`, default 1), bound as it is when it exists. */
  bucket: string;
  clock?: Clock;
  history?: number;
  /** Replicas when the bucket is created (3 in a 3-server cluster). Default 1. */
  replicas?: number;
}

/** Tasks, gates (breakers, preflight) and node membership in one bucket: the whole ReeveStore. */
export class KvTaskStore implements ReeveStore {
  readonly #clock: Clock;
  readonly #index: TaskIndex;
  readonly #keys: TaskKeys;
  readonly #side: SideKeys;
  readonly #claimer: KvClaimer;
  readonly #queries: KvQueries;
  readonly #gates: KvGateKeys;
  readonly #writes: AckedPublisher;
  readonly #recorder = new NotificationRecorder();
  readonly #outboxKeys: OutboxKeys;
  readonly #outbox: KvOutbox;

  constructor(kv: KV, jsm: JetStreamManager, bucket: string, nc: NatsConnection, clock: Clock) {
    this.#clock = clock;
    const stream = `KV_${bucket}`;
    const subjectPrefix = `$KV.${bucket}.`;
    this.#index = new TaskIndex(kv, {
      lastTaskRevision: async () => (await jsm.streams.getMessage(stream, { last_by_subj: `${subjectPrefix}${TASK_WATCH_FILTER}` }))?.seq ?? 0,
      taskKeys: async () => {
        const info = await jsm.streams.info(stream, { subjects_filter: `${subjectPrefix}${TASK_WATCH_FILTER}` });
        return Object.keys(info.state.subjects ?? {}).map((subject) => subject.slice(subjectPrefix.length));
      },
    });
    this.#writes = new AckedPublisher(nc);
    // Single-replica buckets only: a replicated one goes through `kv`, whose updates on a
    // server older than 2.9.21 first win a write token (serial-cas.ts), which a bare publish
    // would skip.
    const fastWrites = kv
      .status()
      .then((status) => (status.replicas === 1 ? this.#writes : undefined))
      .catch(() => undefined);
    this.#keys = new TaskKeys(kv, this.#index, fastWrites, `$KV.${bucket}.`);
    this.#gates = new KvGateKeys(kv, jsm, bucket, clock, this.#recorder);
    this.#outboxKeys = new OutboxKeys(kv, jsm, bucket, clock);
    this.#outbox = new KvOutbox(kv, this.#keys, this.#gates, this.#outboxKeys, clock, this.#recorder);
    this.#side = new SideKeys(kv, clock, () => nc.info?.max_payload ?? 1024 * 1024, (letter) => this.#outbox.add(this.#recorder.forDeadLetter(letter)));
    this.#claimer = new KvClaimer(this.#keys);
    this.#queries = new KvQueries(this.#keys, this.#side);
  }

  recordNotifications(recording: NotifyRecording): void {
    this.#recorder.set(recording);
  }

  claimNotifications(claim: OutboxClaim): Promise<OutboxEntry[]> {
    return this.#outbox.claim(claim);
  }

  settleNotification(settle: OutboxSettle): Promise<void> {
    return this.#outbox.settle(settle);
  }

  notificationCounts(): Promise<NotificationCounts> {
    return this.#outbox.counts();
  }

  markNodeDead(report: DeadNodeReport): Promise<boolean> {
    return this.#outbox.markNodeDead(report);
  }

  purgeNotifications(before: number): Promise<number> {
    return this.#outbox.purge(before);
  }

  async submit(request: SubmitRequest): Promise<SubmitResult> {
    const req = parseOrThrow(submitRequestSchema, request, 'task submission');
    const now = this.#clock.now();
    const doc = newTaskDoc(req.id ?? newTaskId(now), req, now);
    // create, or return the task that holds the id; twice in case it was deleted in between.
    for (let attempt = 0; ; attempt++) {
      const revision = await this.#keys.create(doc);
      if (revision !== undefined) return { task: { ...toStored(doc, revision), from: null }, created: true };
      const existing = await this.#keys.read(doc.id);
      if (existing) return { task: toStored(existing.doc, existing.revision), created: false };
      if (attempt >= 1) throw storeError(new Error('the key was deleted while submitting'), `submitting task ${doc.id}`);
    }
  }

  async get(id: string): Promise<FullTask | undefined> {
    parseOrThrow(schemas.idArg, id, 'task id');
    const [current, annotations] = await Promise.all([this.#keys.read(id), this.#side.annotations(id)]);
    return current ? toFull(current.doc, current.revision, annotations) : undefined;
  }

  async claim(request: ClaimRequest): Promise<StoredTask[]> {
    const req = parseOrThrow(schemas.claimRequestSchema, request, 'claim request');
    return this.#claimer.claim(req, this.#clock.now());
  }

  async heartbeat(request: HeartbeatRequest): Promise<TaskWrite> {
    const req = parseOrThrow(schemas.heartbeatRequestSchema, request, 'heartbeat');
    const now = this.#clock.now();
    const { doc, revision, from } = await this.#keys.mutate(req.id, (current) => heartbeatDoc(current, req, now), req.revision);
    return toWrite(doc, revision, from ?? doc.state);
  }

  async transition(request: TransitionRequest): Promise<TaskWrite> {
    const req = parseOrThrow(schemas.transitionRequestSchema, request, 'transition');
    const now = this.#clock.now();
    const { doc, revision, from } = await this.#keys.mutate(req.id, (current) => transitionDoc(current, req, now, this.#recorder), req.revision);
    return toWrite(doc, revision, from ?? doc.state);
  }

  /**
   * Pipelined: every write is validated and checked on its own and all CAS writes are in flight
   * together (KV has no multi-key transaction, so "commit together" means "sent together";
   * each one still commits or fails alone). Writes to the same id run in request order.
   */
  async transitionMany(requests: readonly TransitionRequest[]): Promise<Array<TaskWrite | Error>> {
    const chains = new Map<string, Promise<unknown>>();
    return Promise.all(
      requests.map((request) => {
        const id = typeof request?.id === 'string' ? request.id : '';
        const run = (chains.get(id) ?? Promise.resolve()).then(() => this.transition(request)).catch((err: unknown) => toError(err));
        chains.set(id, run);
        return run;
      }),
    );
  }

  async listStale(limit = 100): Promise<StoredTask[]> {
    parseOrThrow(schemas.limitArg, limit, 'limit');
    return this.#queries.listStale(limit, this.#clock.now());
  }

  async listOwned(ownerPrefix: string, limit = 1000): Promise<StoredTask[]> {
    parseOrThrow(schemas.ownerSchema, ownerPrefix, 'owner prefix');
    parseOrThrow(schemas.limitArg, limit, 'limit');
    return this.#queries.listOwned(ownerPrefix, limit);
  }

  async requeueStale(id: string, revision: number, options: StaleRequeueOptions): Promise<StoredTask> {
    parseOrThrow(schemas.idArg, id, 'task id');
    const parsed = parseOrThrow(schemas.staleOptionsSchema, options, 'stale requeue options');
    const now = this.#clock.now();
    const stale: StaleRequeueOptions = { crashLimit: parsed.crashLimit };
    if (parsed.deadOwner !== undefined) stale.deadOwner = parsed.deadOwner;
    const { doc, revision: next, from } = await this.#keys.mutate(id, (current) => requeueStaleDoc(current, revision, stale, now, this.#recorder));
    return withFrom(toStored(doc, next), from);
  }

  async requestCancel(id: string, reason: string): Promise<StoredTask> {
    parseOrThrow(schemas.idArg, id, 'task id');
    parseOrThrow(schemas.reasonArg, reason, 'cancel reason');
    const now = this.#clock.now();
    const { doc, revision, from } = await this.#keys.mutate(id, (current) => cancelRequestDoc(current, reason, now));
    return withFrom(toStored(doc, revision), from);
  }

  async listCancelRequests(owner: string): Promise<Array<{ id: string; reason: string }>> {
    parseOrThrow(schemas.ownerSchema, owner, 'owner');
    return this.#queries.listCancelRequests(owner);
  }

  async annotate(id: string, note: Omit<Annotation, 'at'>): Promise<void> {
    parseOrThrow(schemas.idArg, id, 'task id');
    const { author, text } = parseOrThrow(schemas.annotationSchema, note, 'annotation');
    if (!(await this.#keys.read(id))) throw new TaskNotFoundError(id);
    await this.#side.annotate(id, { author, text });
  }

  async reopen(id: string, reason: string): Promise<StoredTask> {
    parseOrThrow(schemas.idArg, id, 'task id');
    parseOrThrow(schemas.reasonArg, reason, 'reopen reason');
    const now = this.#clock.now();
    const { doc, revision, from } = await this.#keys.mutate(id, (current) => reopenDoc(current, reason, now));
    return withFrom(toStored(doc, revision), from);
  }

  async query(query: TaskQuery = {}): Promise<TaskRecord[]> {
    const q = parseOrThrow(schemas.taskQuerySchema, query, 'task query');
    const parsed: Parameters<KvQueries['query']>[0] = { limit: q.limit ?? 100 };
    if (q.state !== undefined) parsed.state = q.state;
    if (q.kind !== undefined) parsed.kind = q.kind;
    return this.#queries.query(parsed);
  }

  countByState(): Promise<Partial<Record<TaskState, number>>> {
    return this.#queries.countByState();
  }

  countQueued(kinds: readonly string[]): Promise<number> {
    parseOrThrow(schemas.kindListArg, kinds, 'kinds');
    return this.#queries.countQueued(kinds);
  }

  /** See purge.ts: index candidates, confirmed on fresh reads, purged by compare-and-set. */
  async purge(request: PurgeRequest): Promise<PurgeResult> {
    return purgeTasks(this.#keys, parseOrThrow(schemas.purgeRequestSchema, request, 'purge request'));
  }

  addDeadLetter(letter: DeadLetterInput): Promise<DeadLetter> {
    return this.#side.addDeadLetter(letter);
  }

  listDeadLetters(limit = 100): Promise<DeadLetter[]> {
    return this.#side.listDeadLetters(limit);
  }

  purgeDeadLetters(request: DeadLetterPurge): Promise<{ seqs: number[]; dryRun: boolean }> {
    return this.#side.purgeDeadLetters(request);
  }

  listBreakers(): Promise<BreakerRecord[]> {
    return this.#gates.listBreakers();
  }

  putBreaker(record: Omit<BreakerRecord, 'revision' | 'updatedAt'>, expectedRevision: number): Promise<number> {
    return this.#gates.putBreaker(record, expectedRevision);
  }

  listPreflight(): Promise<PreflightRecord[]> {
    return this.#gates.listPreflight();
  }

  putPreflight(record: PreflightRecord): Promise<void> {
    return this.#gates.putPreflight(record);
  }

  recordNode(info: NodeInfo): Promise<void> {
    return this.#gates.recordNode(info);
  }

  listNodes(): Promise<NodeInfo[]> {
    return this.#gates.listNodes();
  }

  /** Stops the index's watch. The NatsConnection stays open: it belongs to the caller. */
  async close(): Promise<void> {
    this.#index.close();
    this.#outboxKeys.close();
    this.#writes.close();
  }
}

/** `from` only when a write happened (see StoredTask.from). */
function withFrom(task: StoredTask, from: TaskState | undefined): StoredTask {
  if (from !== undefined) task.from = from;
  return task;
}

/** Creates the bucket when missing, or binds to it as it is. */
export async function openKvTaskStore(options: KvTaskStoreOptions): Promise<KvTaskStore> {
  const history = options.history ?? 1;
  if (!Number.isInteger(history) || history < 1) throw new Error(`KV task store: history must be an integer >= 1 (got ${history})`);
  let kv: KV;
  let jsm: JetStreamManager;
  try {
    jsm = await jetstreamManager(options.nc);
    // allow_direct: false makes the client read through the stream leader (see the header).
    kv = await new Kvm(options.nc).create(options.bucket, { history, replicas: options.replicas ?? 1, allow_direct: false });
    // A replicated bucket on nats-server < 2.9.21 needs write tokens for a sound compare-and-set.
    const streams = [`KV_${options.bucket}`];
    if (await needsWriteTokens(kv, options.nc)) {
      kv = withWriteTokens(kv, await openTokenBucket(options.nc, options.bucket, (await kv.status()).replicas));
      streams.push(`KV_${options.bucket}-cas`);
    }
    // A bucket just created (by this or another process) answers only once it has a leader.
    await expectStreamLeaders(jsm, streams);
  } catch (err) {
    throw storeError(err, `opening KV bucket ${options.bucket}`);
  }
  return new KvTaskStore(kv, jsm, options.bucket, options.nc, options.clock ?? systemClock);
}
