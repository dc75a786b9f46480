import type { StoredTask, TaskWrite } from '../../ports/task-store.ts';
import type { TaskState } from '../../protocol/task-states.ts';
import type { Annotation, HistoryEntry, Json } from '../../protocol/task.ts';

/** A `tasks` row as better-sqlite3 returns it. */
export interface TaskRow {
  seq: number;
  id: string;
  kind: string;
  state: TaskState;
  step: string | null;
  priority: number;
  breaker_key: string;
  timeout_ms: number | null;
  labels: string | null;
  input: string | null;
  attempts_transient: number;
  attempts_permanent: number;
  crashes: number;
  owner: string | null;
  lease_expires_at: number | null;
  heartbeat_at: number | null;
  progress: string | null;
  available_at: number;
  created_at: number;
  updated_at: number;
  result: string | null;
  error: string | null;
  compensations: string;
  snapshot: string | null;
  cancel_requested: string | null;
  history_count: number;
  revision: number;
}

export interface HistoryRow {
  at: number;
  from_state: TaskState | null;
  to_state: TaskState;
  reason: string;
}

export interface AnnotationRow {
  at: number;
  author: string;
  text: string;
}

const parse = (text: string): unknown => JSON.parse(text);

/** Row → StoredTask. Absent values stay absent (no `undefined` keys in the JSON output). */
export function rowToTask(row: TaskRow): StoredTask {
  const task: StoredTask = {
    id: row.id,
    kind: row.kind,
    state: row.state,
    priority: row.priority,
    breakerKey: row.breaker_key,
    attempts: { transient: row.attempts_transient, permanent: row.attempts_permanent, crashes: row.crashes },
    availableAt: row.available_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    compensations: JSON.parse(row.compensations) as StoredTask['compensations'],
    revision: row.revision,
  };
  if (row.step !== null) task.step = row.step;
  if (row.input !== null) task.input = parse(row.input) as Json;
  if (row.timeout_ms !== null) task.timeoutMs = row.timeout_ms;
  if (row.labels !== null) task.labels = parse(row.labels) as Record<string, string>;
  if (row.owner !== null) task.owner = row.owner;
  if (row.lease_expires_at !== null) task.leaseExpiresAt = row.lease_expires_at;
  if (row.heartbeat_at !== null) task.heartbeatAt = row.heartbeat_at;
  if (row.progress !== null) task.progress = parse(row.progress) as Json;
  if (row.result !== null) task.result = parse(row.result) as Json;
  if (row.error !== null) task.error = parse(row.error) as NonNullable<StoredTask['error']>;
  if (row.snapshot !== null) task.snapshot = parse(row.snapshot);
  if (row.cancel_requested !== null) task.cancelRequested = parse(row.cancel_requested) as NonNullable<StoredTask['cancelRequested']>;
  return task;
}

export function historyFromRows(rows: HistoryRow[]): HistoryEntry[] {
  return rows.map((r) => ({ at: r.at, from: r.from_state, to: r.to_state, reason: r.reason }));
}

export function annotationsFromRows(rows: AnnotationRow[]): Annotation[] {
  return rows.map((r) => ({ at: r.at, author: r.author, text: r.text }));
}

/** JSON for a nullable column: `undefined` keeps nothing, `null` clears. */
export const toJsonColumn = (value: unknown): string | null => (value === undefined || value === null ? null : JSON.stringify(value));

/** The narrow read that write checks use (see LEASE_COLUMNS). */
export type LeaseRow = Pick<
  TaskRow,
  | 'seq' | 'id' | 'kind' | 'state' | 'step' | 'owner' | 'lease_expires_at' | 'heartbeat_at' | 'available_at'
  | 'attempts_transient' | 'attempts_permanent' | 'crashes' | 'revision' | 'history_count'
>;

/** The write result a hot-path write returns, built from the row it wrote and the state it left. */
export function leaseRowToWrite(row: LeaseRow, updatedAt: number, from: TaskState): TaskWrite {
  const write: TaskWrite = {
    id: row.id,
    kind: row.kind,
    state: row.state,
    from,
    availableAt: row.available_at,
    attempts: { transient: row.attempts_transient, permanent: row.attempts_permanent, crashes: row.crashes },
    revision: row.revision,
    updatedAt,
  };
  if (row.step !== null) write.step = row.step;
  if (row.owner !== null) write.owner = row.owner;
  if (row.lease_expires_at !== null) write.leaseExpiresAt = row.lease_expires_at;
  if (row.heartbeat_at !== null) write.heartbeatAt = row.heartbeat_at;
  return write;
}
