import type Database from 'better-sqlite3';
import type { AnnotationRow, HistoryRow, LeaseRow, TaskRow } from './rows.ts';

/** The columns write checks need: reading all 27 costs ~3x more per call (measured). */
export const LEASE_COLUMNS = `seq, id, kind, state, step, owner, lease_expires_at, heartbeat_at, available_at,
  attempts_transient, attempts_permanent, crashes, revision, history_count`;

/**
 * The fixed SQL statements of the SQLite adapter, prepared once per connection.
 * @internal Left out of the published declarations: its inferred type names a namespace that
 * @types/better-sqlite3 does not export, and nothing public exposes it.
 */
export function prepareStatements(db: Database.Database) {
  return {
    getRow: db.prepare<[string], TaskRow>('SELECT * FROM tasks WHERE id = ?'),
    getLease: db.prepare<[string], LeaseRow>(`SELECT ${LEASE_COLUMNS} FROM tasks WHERE id = ?`),
    insertTask: db.prepare<Record<string, unknown>, TaskRow>(`
      INSERT INTO tasks (id, kind, state, priority, breaker_key, timeout_ms, labels, input,
                         available_at, created_at, updated_at, history_count, revision)
      VALUES (@id, @kind, 'queued', @priority, @breakerKey, @timeoutMs, @labels, @input,
              @now, @now, @now, 1, 1)
      RETURNING *`),
    insertHistory: db.prepare<[string, number, number, string | null, string, string]>(
      'INSERT INTO task_history (task_id, n, at, from_state, to_state, reason) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    leaseBySeq: db.prepare<Record<string, unknown>>(`
      UPDATE tasks SET state = @state, owner = @owner, lease_expires_at = @expires, heartbeat_at = @now,
        history_count = history_count + 1, revision = revision + 1, updated_at = @now
      WHERE seq = @seq`),
    update: db.prepare<Record<string, unknown>, TaskRow>(`
      UPDATE tasks SET
        state = @state, step = @step, attempts_transient = @transient, attempts_permanent = @permanent,
        crashes = @crashes, owner = @owner, lease_expires_at = @leaseExpiresAt, heartbeat_at = @heartbeatAt,
        progress = @progress, available_at = @availableAt, result = @result, error = @error,
        compensations = @compensations, snapshot = @snapshot, cancel_requested = @cancelRequested,
        history_count = @historyCount, revision = revision + 1, updated_at = @now
      WHERE id = @id RETURNING *`),
    heartbeat: db.prepare<Record<string, unknown>>(`
      UPDATE tasks SET lease_expires_at = @expires, heartbeat_at = @now,
        progress = COALESCE(@progress, progress), revision = revision + 1, updated_at = @now
      WHERE seq = @seq`),
    listStale: db.prepare<[number, number], TaskRow>(
      'SELECT * FROM tasks WHERE owner IS NOT NULL AND lease_expires_at <= ? ORDER BY lease_expires_at LIMIT ?',
    ),
    // substr, not LIKE: owners may contain "_", a LIKE wildcard.
    listOwned: db.prepare<[number, string, number], TaskRow>(
      'SELECT * FROM tasks INDEXED BY tasks_leases WHERE owner IS NOT NULL AND substr(owner, 1, ?) = ? ORDER BY lease_expires_at LIMIT ?',
    ),
    cancelRequests: db.prepare<[string], { id: string; cancel_requested: string }>(
      'SELECT id, cancel_requested FROM tasks INDEXED BY tasks_leases WHERE owner IS NOT NULL AND owner = ? AND cancel_requested IS NOT NULL',
    ),
    history: db.prepare<[string], HistoryRow>('SELECT * FROM task_history WHERE task_id = ? ORDER BY n'),
    annotations: db.prepare<[string], AnnotationRow>('SELECT * FROM task_annotations WHERE task_id = ? ORDER BY n'),
    insertAnnotation: db.prepare<[string, string, number, string, string]>(`
      INSERT INTO task_annotations (task_id, n, at, author, text)
      VALUES (?, (SELECT COALESCE(MAX(n), 0) + 1 FROM task_annotations WHERE task_id = ?), ?, ?, ?)`),
    query: db.prepare<Record<string, unknown>, TaskRow>(`
      SELECT * FROM tasks WHERE (@state IS NULL OR state = @state) AND (@kind IS NULL OR kind = @kind)
      ORDER BY seq DESC LIMIT @limit`),
    countByState: db.prepare<[], { state: string; n: number }>('SELECT state, COUNT(*) AS n FROM tasks GROUP BY state'),
    insertDeadLetter: db.prepare<Record<string, unknown>, { seq: number }>(`
      INSERT INTO dead_letters (received_at, source, code, reason, task_id, excerpt, payload)
      VALUES (@receivedAt, @source, @code, @reason, @id, @excerpt, @payload) RETURNING seq`),
    upsertNode: db.prepare<Record<string, unknown>>(`
      INSERT INTO nodes (id, incarnation, state, capacity, running, started_at, last_seen_at, pid, host, task_counts)
      VALUES (@id, @incarnation, @state, @capacity, @running, @startedAt, @lastSeenAt, @pid, @host, @taskCounts)
      ON CONFLICT (id) DO UPDATE SET incarnation = excluded.incarnation, state = excluded.state,
        capacity = excluded.capacity, running = excluded.running, started_at = excluded.started_at,
        last_seen_at = excluded.last_seen_at, pid = excluded.pid, host = excluded.host, task_counts = excluded.task_counts
      -- A late beacon of an incarnation that started before the recorded one is dropped.
      WHERE excluded.incarnation = nodes.incarnation OR excluded.started_at >= nodes.started_at`),
    listNodes: db.prepare<[], Record<string, unknown>>('SELECT * FROM nodes ORDER BY id'),
    listDeadLetters: db.prepare<[number], Record<string, unknown>>('SELECT * FROM dead_letters ORDER BY seq DESC LIMIT ?'),
  };
}

/** @internal */
export type Statements = ReturnType<typeof prepareStatements>;
