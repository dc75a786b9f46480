import type Database from 'better-sqlite3';
import type { AnnotationRow, HistoryRow, TaskRow } from './rows.ts';

/** Every SQL statement of the SQLite adapter, prepared once per connection. */
export function prepareStatements(db: Database.Database) {
  const claimFilter = `
    AND available_at <= @now
    AND breaker_key NOT IN (SELECT value FROM json_each(@excluded))
    AND (@kinds IS NULL OR kind IN (SELECT value FROM json_each(@kinds)))`;
  return {
    getRow: db.prepare<[string], TaskRow>('SELECT * FROM tasks WHERE id = ?'),
    insertTask: db.prepare<Record<string, unknown>, TaskRow>(`
      INSERT INTO tasks (id, kind, state, priority, breaker_key, timeout_ms, labels, input,
                         available_at, created_at, updated_at, history_count, revision)
      VALUES (@id, @kind, 'queued', @priority, @breakerKey, @timeoutMs, @labels, @input,
              @now, @now, @now, 1, 1)
      RETURNING *`),
    insertHistory: db.prepare<[string, number, number, string | null, string, string]>(
      'INSERT INTO task_history (task_id, n, at, from_state, to_state, reason) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    // Cleanup first (a cancel or an interrupted compensation must not wait behind a backlog),
    // then the queue in priority order, FIFO within a priority.
    selectCleanup: db.prepare<Record<string, unknown>, { id: string; state: string; history_count: number }>(`
      SELECT id, state, history_count FROM tasks
      WHERE owner IS NULL AND state IN ('cancelling', 'compensating') ${claimFilter}
      ORDER BY seq LIMIT @limit`),
    selectClaimable: db.prepare<Record<string, unknown>, { id: string; state: string; history_count: number }>(`
      SELECT id, state, history_count FROM tasks
      WHERE owner IS NULL AND state IN ('queued', 'backoff') ${claimFilter}
      ORDER BY priority DESC, seq LIMIT @limit`),
    leaseOne: db.prepare<Record<string, unknown>, TaskRow>(`
      UPDATE tasks SET
        state = CASE WHEN state IN ('queued', 'backoff') THEN 'running' ELSE state END,
        owner = @owner, lease_expires_at = @expires, heartbeat_at = @now,
        history_count = history_count + 1, revision = revision + 1, updated_at = @now
      WHERE id = @id RETURNING *`),
    update: db.prepare<Record<string, unknown>, TaskRow>(`
      UPDATE tasks SET
        state = @state, step = @step, attempts_transient = @transient, attempts_permanent = @permanent,
        crashes = @crashes, owner = @owner, lease_expires_at = @leaseExpiresAt, heartbeat_at = @heartbeatAt,
        progress = @progress, available_at = @availableAt, result = @result, error = @error,
        compensations = @compensations, snapshot = @snapshot, cancel_requested = @cancelRequested,
        history_count = @historyCount, revision = revision + 1, updated_at = @now
      WHERE id = @id RETURNING *`),
    heartbeat: db.prepare<Record<string, unknown>, TaskRow>(`
      UPDATE tasks SET lease_expires_at = @expires, heartbeat_at = @now,
        progress = COALESCE(@progress, progress), revision = revision + 1, updated_at = @now
      WHERE id = @id RETURNING *`),
    listStale: db.prepare<[number, number], TaskRow>(
      'SELECT * FROM tasks WHERE owner IS NOT NULL AND lease_expires_at <= ? ORDER BY lease_expires_at LIMIT ?',
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
    listDeadLetters: db.prepare<[number], Record<string, unknown>>('SELECT * FROM dead_letters ORDER BY seq DESC LIMIT ?'),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;
