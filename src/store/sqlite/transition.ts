import type Database from 'better-sqlite3';
import { TaskNotFoundError } from '../../errors.ts';
import type { TaskWrite } from '../../ports/task-store.ts';
import type { ParsedTransition } from '../request-schemas.ts';
import * as rules from '../write-rules.ts';
import { leaseRowToWrite, toJsonColumn, type LeaseRow } from './rows.ts';
import type { Statements } from './statements.ts';
import type { SqliteOutbox } from './outbox-table.ts';
import type { TaskError } from '../../protocol/task.ts';

/** Optional request fields and the columns each one sets. */
const OPTIONAL: ReadonlyArray<[keyof ParsedTransition, string[]]> = [
  ['step', ['step']],
  ['attempts', ['attempts_transient', 'attempts_permanent', 'crashes']],
  ['availableAt', ['available_at']],
  ['result', ['result']],
  ['error', ['error']],
  ['compensations', ['compensations']],
  ['snapshot', ['snapshot']],
];
const ALWAYS = ['state', 'owner', 'lease_expires_at', 'heartbeat_at', 'history_count', 'updated_at'];

export function leaseView(row: LeaseRow): rules.WriteTarget {
  return {
    id: row.id,
    state: row.state,
    owner: row.owner ?? undefined,
    leaseExpiresAt: row.lease_expires_at ?? undefined,
    revision: row.revision,
  };
}

export function requireLeaseRow(sql: Statements, id: string): LeaseRow {
  const row = sql.getLease.get(id);
  if (!row) throw new TaskNotFoundError(id);
  return row;
}

/**
 * A transition, inside the caller's IMMEDIATE transaction: a narrow read, the shared write
 * rules, then an UPDATE of just the columns the request sets (statements cached per shape),
 * so a write costs the same whatever the size of the input, result or snapshot it leaves alone.
 */
export class TransitionWriter {
  readonly #cache = new Map<number, Database.Statement<Record<string, unknown>>>();
  readonly #error;

  constructor(
    private readonly db: Database.Database,
    private readonly sql: Statements,
    private readonly outbox: SqliteOutbox,
  ) {
    this.#error = db.prepare<[number], { error: string | null }>('SELECT error FROM tasks WHERE seq = ?');
  }

  #statement(req: ParsedTransition): Database.Statement<Record<string, unknown>> {
    let mask = 0;
    OPTIONAL.forEach(([field], i) => {
      if (req[field] !== undefined) mask |= 1 << i;
    });
    let statement = this.#cache.get(mask);
    if (!statement) {
      const columns = [...ALWAYS, ...OPTIONAL.filter((_, i) => mask & (1 << i)).flatMap(([, cols]) => cols)];
      statement = this.db.prepare(
        `UPDATE tasks SET ${columns.map((c) => `${c} = @${c}`).join(', ')}, revision = revision + 1 WHERE seq = @seq`,
      );
      this.#cache.set(mask, statement);
    }
    return statement;
  }

  apply(req: ParsedTransition, now: number): TaskWrite {
    const row = requireLeaseRow(this.sql, req.id);
    const target = leaseView(row);
    rules.checkTransition(target, req, now);
    const lease = rules.leaseAfter(target, req, now);
    const step = req.step === undefined ? row.step : req.step;
    // A change of state is always recorded; `record` decides for the rest (see TransitionRequest).
    const recorded = req.to !== row.state || (req.record ?? step !== row.step);
    const next: LeaseRow = {
      ...row,
      state: req.to,
      step,
      owner: lease.owner ?? null,
      lease_expires_at: lease.leaseExpiresAt ?? null,
      heartbeat_at: lease.owner ? row.heartbeat_at : null,
      available_at: req.availableAt ?? row.available_at,
      attempts_transient: req.attempts?.transient ?? row.attempts_transient,
      attempts_permanent: req.attempts?.permanent ?? row.attempts_permanent,
      crashes: req.attempts?.crashes ?? row.crashes,
      history_count: row.history_count + (recorded ? 1 : 0),
      revision: row.revision + 1,
    };
    this.#statement(req).run({
      seq: row.seq,
      state: next.state,
      step: next.step,
      owner: next.owner,
      lease_expires_at: next.lease_expires_at,
      heartbeat_at: next.heartbeat_at,
      history_count: next.history_count,
      updated_at: now,
      attempts_transient: next.attempts_transient,
      attempts_permanent: next.attempts_permanent,
      crashes: next.crashes,
      available_at: next.available_at,
      // A JSON null is a result like any other: keep it as the text 'null', not SQL NULL.
      result: req.result === undefined ? null : JSON.stringify(req.result),
      error: toJsonColumn(req.error),
      compensations: req.compensations ? JSON.stringify(req.compensations) : null,
      snapshot: req.snapshot === undefined ? null : JSON.stringify(req.snapshot),
    });
    if (recorded) {
      const reason = step && step !== row.step ? `${req.reason} [step ${step}]` : req.reason;
      this.sql.insertHistory.run(row.id, next.history_count, now, row.state, req.to, reason);
    }
    if (this.outbox.recorder.wantsTask(row.state, req.to)) this.#notify(next, req, row.state, now);
    return leaseRowToWrite(next, now, row.state);
  }

  /** The outbox entry of this state change, in the same transaction. The error is read only here (rare). */
  #notify(next: LeaseRow, req: ParsedTransition, from: LeaseRow['state'], now: number): void {
    const stored = req.error === undefined ? this.#error.get(next.seq)?.error : undefined;
    const error = req.error !== undefined ? (req.error as TaskError | null) : stored ? (JSON.parse(stored) as TaskError) : undefined;
    const attempts = { transient: next.attempts_transient, permanent: next.attempts_permanent, crashes: next.crashes };
    this.outbox.write(this.outbox.recorder.forTask({ id: next.id, kind: next.kind, state: next.state, step: next.step, attempts, error }, from, now));
  }
}
