import type Database from 'better-sqlite3';
import { StoreConflictError } from '../../errors.ts';
import type { BreakerRecord, GateStore, PreflightRecord } from '../../ports/gate-store.ts';
import type { Clock } from '../../ports/clock.ts';
import { parseOrThrow } from '../../protocol/validate.ts';
import * as schemas from '../request-schemas.ts';
import type { SqliteOutbox } from './outbox-table.ts';

interface BreakerRow {
  key: string;
  state: BreakerRecord['state'];
  open_until: number | null;
  snapshot: string;
  revision: number;
  updated_at: number;
}

/** Breakers and preflight results on the SQLite file (see GateStore). */
export class SqliteGateTables implements GateStore {
  readonly #list;
  readonly #get;
  readonly #insert;
  readonly #update;
  readonly #listPreflight;
  readonly #putPreflight;

  constructor(
    private readonly db: Database.Database,
    private readonly clock: Clock,
    private readonly outbox: SqliteOutbox,
  ) {
    this.#list = db.prepare<[], BreakerRow>('SELECT * FROM breakers ORDER BY key');
    this.#get = db.prepare<[string], { revision: number; state: BreakerRecord['state'] }>('SELECT revision, state FROM breakers WHERE key = ?');
    this.#insert = db.prepare('INSERT INTO breakers (key, state, open_until, snapshot, revision, updated_at) VALUES (@key, @state, @openUntil, @snapshot, 1, @now)');
    this.#update = db.prepare('UPDATE breakers SET state = @state, open_until = @openUntil, snapshot = @snapshot, revision = revision + 1, updated_at = @now WHERE key = @key AND revision = @expected');
    this.#listPreflight = db.prepare<[], { kind: string; ok: number; reason: string; checked_at: number }>('SELECT * FROM preflight ORDER BY kind');
    this.#putPreflight = db.prepare(`INSERT INTO preflight (kind, ok, reason, checked_at) VALUES (@kind, @ok, @reason, @checkedAt)
      ON CONFLICT (kind) DO UPDATE SET ok = excluded.ok, reason = excluded.reason, checked_at = excluded.checked_at`);
  }

  async listBreakers(): Promise<BreakerRecord[]> {
    return this.#list.all().map((r) => ({
      key: r.key,
      state: r.state,
      ...(r.open_until === null ? {} : { openUntil: r.open_until }),
      snapshot: JSON.parse(r.snapshot) as unknown,
      revision: r.revision,
      updatedAt: r.updated_at,
    }));
  }

  async putBreaker(record: Omit<BreakerRecord, 'revision' | 'updatedAt'>, expectedRevision: number): Promise<number> {
    parseOrThrow(schemas.breakerWriteSchema, record, 'breaker');
    parseOrThrow(schemas.expectedRevisionArg, expectedRevision, 'breaker revision');
    const params = { key: record.key, state: record.state, openUntil: record.openUntil ?? null, snapshot: JSON.stringify(record.snapshot), now: this.clock.now(), expected: expectedRevision };
    return this.db.transaction(() => {
      const current = this.#get.get(record.key);
      if ((current?.revision ?? 0) !== expectedRevision) throw new StoreConflictError(`breaker:${record.key}`, expectedRevision, current?.revision);
      if (expectedRevision === 0) this.#insert.run(params);
      else this.#update.run(params);
      // breaker.opened / breaker.closed commit with the change that is the event.
      this.outbox.write(this.outbox.recorder.forBreaker(record, current?.state ?? 'closed', params.now));
      return expectedRevision + 1;
    }).immediate();
  }

  async listPreflight(): Promise<PreflightRecord[]> {
    return this.#listPreflight.all().map((r) => ({ kind: r.kind, ok: r.ok === 1, reason: r.reason, checkedAt: r.checked_at }));
  }

  async putPreflight(record: PreflightRecord): Promise<void> {
    const { kind, ok, reason, checkedAt } = parseOrThrow(schemas.preflightRecordSchema, record, 'preflight result');
    this.#putPreflight.run({ kind, ok: ok ? 1 : 0, reason, checkedAt });
  }
}
