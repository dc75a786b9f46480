import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { ErrorCode, ReeveError, TaskNotFoundError, toError } from '../../errors.ts';
import type { Clock } from '../../ports/clock.ts';
import type { BreakerRecord, PreflightRecord } from '../../ports/gate-store.ts';
import type { NodeInfo } from '../../ports/node-registry.ts';
import type { ReeveStore } from '../../ports/reeve-store.ts';
import { SqliteGateTables } from './gate-tables.ts';
import { SqliteSideTables } from './side-tables.ts';
import { SqliteOutbox } from './outbox-table.ts';
import { NotificationRecorder, purgeBeforeArg } from '../notifications.ts';
import type { DeadNodeReport, NotificationCounts, NotifyRecording, OutboxClaim, OutboxEntry, OutboxSettle } from '../../ports/outbox.ts';
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
  WriteOptions,
} from '../../ports/task-store.ts';
import type { TaskState } from '../../protocol/task-states.ts';
import { submitRequestSchema, type Annotation, type SubmitRequest, type TaskRecord } from '../../protocol/task.ts';
import { parseOrThrow } from '../../protocol/validate.ts';
import { systemClock } from '../../platform/system-clock.ts';
import * as schemas from '../request-schemas.ts';
import type { ParsedClaim, ParsedTransition } from '../request-schemas.ts';
import { newTaskId } from '../task-id.ts';
import * as rules from '../write-rules.ts';
import { Claimer } from './claim.ts';
import { annotationsFromRows, historyFromRows, leaseRowToWrite, rowToTask, toJsonColumn, type TaskRow } from './rows.ts';
import { purgeFinished } from './purge.ts';
import { migrate } from './schema.ts';
import { prepareStatements, type Statements } from './statements.ts';
import { leaseView, requireLeaseRow, TransitionWriter } from './transition.ts';

export interface SqliteTaskStoreOptions {
  /** Database file (its directory is created), or `:memory:` for a throwaway store. */
  path: string;
  clock?: Clock;
  /**
   * `normal` (default): WAL with synchronous=NORMAL; a power cut may lose the last commits,
   * never corrupt the file. `full`: every commit is fsynced; survives power loss, ~2-5x slower.
   */
  durability?: 'normal' | 'full';
  /** How long a write waits for another process's write lock before failing (default 5000). */
  busyTimeoutMs?: number;
}


/** The embedded TaskStore: one SQLite file, safe to share between processes (WAL + IMMEDIATE transactions). */
export class SqliteTaskStore implements ReeveStore {
  readonly #db: Database.Database;
  readonly #sql: Statements;
  readonly #clock: Clock;
  readonly #claimer: Claimer;
  readonly #transitions: TransitionWriter;
  readonly #gates: SqliteGateTables;
  readonly #side: SqliteSideTables;
  #dataVersion: Database.Statement<[], number> | undefined;
  readonly #immediate: (fn: () => unknown) => unknown;
  readonly #outbox: SqliteOutbox;

  constructor(options: SqliteTaskStoreOptions) {
    this.#clock = options.clock ?? systemClock;
    try {
      if (options.path !== ':memory:') mkdirSync(dirname(options.path), { recursive: true });
      this.#db = new Database(options.path, { timeout: options.busyTimeoutMs ?? 5000 });
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma(`synchronous = ${options.durability === 'full' ? 'FULL' : 'NORMAL'}`);
      this.#db.pragma('foreign_keys = ON');
      migrate(this.#db, options.path);
    } catch (err) {
      if (err instanceof ReeveError) throw err;
      throw new ReeveError(ErrorCode.StoreUnavailable, `cannot open the task store at ${options.path}: ${toError(err).message}`, {
        cause: err,
        data: { path: options.path },
      });
    }
    this.#sql = prepareStatements(this.#db);
    // One transaction function for all writes: better-sqlite3 builds four wrappers per
    // `transaction()` call, which was garbage on every claim and commit.
    const transaction = this.#db.transaction((fn: () => unknown) => fn());
    this.#immediate = (fn) => transaction.immediate(fn);
    this.#outbox = new SqliteOutbox(this.#db, this.#clock, new NotificationRecorder());
    this.#claimer = new Claimer(this.#db, this.#sql);
    this.#transitions = new TransitionWriter(this.#db, this.#sql, this.#outbox);
    this.#gates = new SqliteGateTables(this.#db, this.#clock, this.#outbox);
    this.#side = new SqliteSideTables(this.#sql, this.#clock, this.#db, this.#outbox);
  }

  recordNotifications(recording: NotifyRecording): void {
    this.#outbox.recorder.set(recording);
  }

  async claimNotifications(claim: OutboxClaim): Promise<OutboxEntry[]> {
    return this.#outbox.claim(claim);
  }

  async settleNotification(settle: OutboxSettle): Promise<void> {
    this.#outbox.settle(settle);
  }

  async notificationCounts(): Promise<NotificationCounts> {
    return this.#outbox.counts();
  }

  async markNodeDead(report: DeadNodeReport): Promise<boolean> {
    return this.#outbox.markNodeDead(report, (row) => this.#side.nodeFromRow(row));
  }

  async purgeNotifications(before: number): Promise<number> {
    parseOrThrow(purgeBeforeArg, before, 'notification purge');
    return this.#outbox.purge(before);
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

  /** Runs `fn` in a BEGIN IMMEDIATE transaction: the write lock is taken up front, so
   * read-check-write sequences are atomic across processes. */
  #write<T>(fn: () => T): T {
    return this.#immediate(fn) as T;
  }

  #row(id: string): TaskRow {
    const row = this.#sql.getRow.get(id);
    if (!row) throw new TaskNotFoundError(id);
    return row;
  }

  #history(row: TaskRow, from: TaskState | null, to: TaskState, reason: string, now: number, n = row.history_count + 1): void {
    this.#sql.insertHistory.run(row.id, n, now, from, to, reason);
  }

  async submit(request: SubmitRequest): Promise<SubmitResult> {
    const req = parseOrThrow(submitRequestSchema, request, 'task submission');
    const now = this.#clock.now();
    const id = req.id ?? newTaskId(now);
    return this.#write(() => {
      const existing = this.#sql.getRow.get(id);
      if (existing) return { task: rowToTask(existing), created: false };
      const row = this.#sql.insertTask.get({
        id,
        kind: req.kind,
        priority: req.priority ?? 0,
        breakerKey: req.breakerKey ?? req.kind,
        timeoutMs: req.timeoutMs ?? null,
        labels: toJsonColumn(req.labels),
        input: toJsonColumn(req.input),
        now,
      })!;
      this.#history(row, null, 'queued', 'submitted', now, 1);
      return { task: { ...rowToTask(row), from: null }, created: true };
    });
  }

  async get(id: string): Promise<FullTask | undefined> {
    parseOrThrow(schemas.idArg, id, 'task id');
    const row = this.#sql.getRow.get(id);
    return row ? this.#full(row) : undefined;
  }

  #full(row: TaskRow): FullTask {
    return {
      ...rowToTask(row),
      history: historyFromRows(this.#sql.history.all(row.id)),
      annotations: annotationsFromRows(this.#sql.annotations.all(row.id)),
    };
  }

  async claim(request: ClaimRequest, options?: WriteOptions): Promise<StoredTask[]> {
    const req = options?.trusted ? (request as ParsedClaim) : parseOrThrow(schemas.claimRequestSchema, request, 'claim request');
    const now = this.#clock.now();
    return this.#write(() => this.#claimer.claim(req, now));
  }

  async heartbeat(request: HeartbeatRequest): Promise<TaskWrite> {
    const req = parseOrThrow(schemas.heartbeatRequestSchema, request, 'heartbeat');
    const now = this.#clock.now();
    return this.#write(() => {
      const row = requireLeaseRow(this.#sql, req.id);
      rules.checkHeartbeat(leaseView(row), req, now);
      const expires = now + req.leaseTtlMs;
      this.#sql.heartbeat.run({ seq: row.seq, expires, now, progress: toJsonColumn(req.details) });
      return leaseRowToWrite({ ...row, lease_expires_at: expires, heartbeat_at: now, revision: row.revision + 1 }, now, row.state);
    });
  }

  async transition(request: TransitionRequest): Promise<TaskWrite> {
    const req = parseOrThrow(schemas.transitionRequestSchema, request, 'transition');
    const now = this.#clock.now();
    return this.#write(() => this.#transitions.apply(req, now));
  }

  async transitionMany(requests: readonly TransitionRequest[], options?: WriteOptions): Promise<Array<TaskWrite | Error>> {
    const parsed = requests.map((r) => {
      if (options?.trusted) return r as ParsedTransition;
      try {
        return parseOrThrow(schemas.transitionRequestSchema, r, 'transition');
      } catch (err) {
        return toError(err);
      }
    });
    const now = this.#clock.now();
    return this.#write(() =>
      parsed.map((req) => {
        if (req instanceof Error) return req;
        try {
          return this.#transitions.apply(req, now);
        } catch (err) {
          // Checks throw before any statement runs, so a refused write leaves nothing behind.
          return toError(err);
        }
      }),
    );
  }

  async listStale(limit = 100): Promise<StoredTask[]> {
    parseOrThrow(schemas.limitArg, limit, 'limit');
    return this.#sql.listStale.all(this.#clock.now(), limit).map(rowToTask);
  }

  async listOwned(ownerPrefix: string, limit = 1000): Promise<StoredTask[]> {
    parseOrThrow(schemas.ownerSchema, ownerPrefix, 'owner prefix');
    parseOrThrow(schemas.limitArg, limit, 'limit');
    return this.#sql.listOwned.all(ownerPrefix.length, ownerPrefix, limit).map(rowToTask);
  }

  async requeueStale(id: string, revision: number, options: StaleRequeueOptions): Promise<StoredTask> {
    parseOrThrow(schemas.idArg, id, 'task id');
    const { crashLimit, deadOwner } = parseOrThrow(schemas.staleOptionsSchema, options, 'stale requeue options');
    const now = this.#clock.now();
    return this.#write(() => {
      const row = this.#row(id);
      rules.checkStaleRequeue(leaseView(row), revision, now, deadOwner);
      const outcome = rules.staleOutcome(leaseView(row), row.crashes, crashLimit, deadOwner !== undefined && row.owner === deadOwner);
      const updated = this.#sql.update.get({
        ...this.#unchanged(row, now),
        state: outcome.to,
        crashes: outcome.crashes,
        availableAt: now,
        error: outcome.quarantined
          ? JSON.stringify({ class: 'lost-lease', code: 'CRASH_LIMIT', message: outcome.reason })
          : row.error,
      })!;
      this.#history(row, row.state, outcome.to, outcome.reason, now);
      const task = rowToTask(updated);
      this.#outbox.write(this.#outbox.recorder.forTask(task, row.state, now));
      return { ...task, from: row.state };
    });
  }

  /** The `update` parameters that leave a row as it is, released from its owner. */
  #unchanged(row: TaskRow, now: number): Record<string, unknown> {
    return {
      id: row.id,
      state: row.state,
      step: row.step,
      transient: row.attempts_transient,
      permanent: row.attempts_permanent,
      crashes: row.crashes,
      owner: null,
      leaseExpiresAt: null,
      heartbeatAt: null,
      progress: row.progress,
      availableAt: row.available_at,
      result: row.result,
      error: row.error,
      compensations: row.compensations,
      snapshot: row.snapshot,
      cancelRequested: row.cancel_requested,
      historyCount: row.history_count + 1,
      now,
    };
  }

  async requestCancel(id: string, reason: string): Promise<StoredTask> {
    parseOrThrow(schemas.idArg, id, 'task id');
    parseOrThrow(schemas.reasonArg, reason, 'cancel reason');
    const now = this.#clock.now();
    return this.#write(() => {
      const row = this.#row(id);
      const outcome = rules.cancelRequestOutcome({ ...leaseView(row), hasRun: row.snapshot !== null });
      if (outcome.flagOnly && row.cancel_requested !== null) return rowToTask(row);
      const flag = JSON.stringify({ at: now, reason });
      const base = this.#unchanged(row, now);
      const updated = this.#sql.update.get({
        ...base,
        owner: row.owner,
        leaseExpiresAt: row.lease_expires_at,
        heartbeatAt: row.heartbeat_at,
        state: outcome.to,
        availableAt: outcome.flagOnly ? row.available_at : now,
        cancelRequested: flag,
        historyCount: row.history_count + (outcome.flagOnly ? 0 : 1),
      })!;
      if (!outcome.flagOnly) this.#history(row, row.state, outcome.to, `cancel requested: ${reason}`, now);
      return { ...rowToTask(updated), from: row.state };
    });
  }

  async listCancelRequests(owner: string): Promise<Array<{ id: string; reason: string }>> {
    parseOrThrow(schemas.ownerSchema, owner, 'owner');
    return this.#sql.cancelRequests.all(owner).map((r) => ({ id: r.id, reason: (JSON.parse(r.cancel_requested) as { reason: string }).reason }));
  }

  async annotate(id: string, note: Omit<Annotation, 'at'>): Promise<void> {
    parseOrThrow(schemas.idArg, id, 'task id');
    const { author, text } = parseOrThrow(schemas.annotationSchema, note, 'annotation');
    const now = this.#clock.now();
    this.#write(() => {
      this.#row(id);
      this.#sql.insertAnnotation.run(id, id, now, author, text);
    });
  }

  async reopen(id: string, reason: string): Promise<StoredTask> {
    parseOrThrow(schemas.idArg, id, 'task id');
    parseOrThrow(schemas.reasonArg, reason, 'reopen reason');
    const now = this.#clock.now();
    return this.#write(() => {
      const row = this.#row(id);
      rules.checkReopen(leaseView(row));
      const updated = this.#sql.update.get({
        ...this.#unchanged(row, now),
        state: 'queued',
        step: null,
        transient: 0,
        permanent: 0,
        crashes: 0,
        availableAt: now,
        result: null,
        error: null,
        compensations: '[]',
        snapshot: null,
        cancelRequested: null,
      })!;
      this.#history(row, row.state, 'queued', `reopened: ${reason} (${reopenSummaryOf(row)})`, now);
      return { ...rowToTask(updated), from: row.state };
    });
  }

  async query(query: TaskQuery = {}): Promise<TaskRecord[]> {
    const q = parseOrThrow(schemas.taskQuerySchema, query, 'task query');
    const rows = this.#sql.query.all({ state: q.state ?? null, kind: q.kind ?? null, limit: q.limit ?? 100 });
    return rows.map((row) => {
      const { snapshot: _snapshot, ...record } = this.#full(row);
      return record;
    });
  }

  /** One IMMEDIATE transaction: the check (terminal, old enough) and the delete are atomic. */
  async purge(request: PurgeRequest): Promise<PurgeResult> {
    const req = parseOrThrow(schemas.purgeRequestSchema, request, 'purge request');
    const dryRun = req.dryRun ?? false;
    return { ids: this.#write(() => purgeFinished(this.#db, req, dryRun)), dryRun };
  }

  async countQueued(kinds: readonly string[]): Promise<number> {
    parseOrThrow(schemas.kindListArg, kinds, 'kinds');
    if (kinds.length === 0) return 0;
    const marks = kinds.map(() => '?').join(', ');
    return this.#db.prepare<string[], { n: number }>(`SELECT COUNT(*) AS n FROM tasks WHERE state = 'queued' AND kind IN (${marks})`).get(...kinds)!.n;
  }

  /**
   * SQLite's `data_version`: unchanged by this connection's own commits, moved by any other's
   * (another process wrote: work may have come in, a listing may be stale).
   */
  externalWriteMark(): number {
    this.#dataVersion ??= this.#db.prepare<[], number>('PRAGMA data_version').pluck();
    return this.#dataVersion.get()!;
  }

  async countByState(): Promise<Partial<Record<TaskState, number>>> {
    return Object.fromEntries(this.#sql.countByState.all().map((r) => [r.state, r.n]));
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

  recordNode(info: NodeInfo): Promise<void> {
    return this.#side.recordNode(info);
  }

  listNodes(): Promise<NodeInfo[]> {
    return this.#side.listNodes();
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}


export function openSqliteTaskStore(options: SqliteTaskStoreOptions): SqliteTaskStore {
  return new SqliteTaskStore(options);
}

function reopenSummaryOf(row: TaskRow): string {
  return rules.reopenSummary({
    state: row.state,
    attempts: { transient: row.attempts_transient, permanent: row.attempts_permanent, crashes: row.crashes },
    error: row.error ? (JSON.parse(row.error) as { message: string }) : undefined,
    compensations: JSON.parse(row.compensations) as Array<{ step: string; status: string }>,
  });
}
