import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { readBootId } from '../../platform/boot-id.ts';
import type { Clock } from '../../ports/clock.ts';
import type { ProcessRegistry, ProcessRow } from '../../ports/process-registry.ts';
import { applyMigrations } from './schema.ts';

interface Row {
  run_id: string;
  task_id: string;
  node_id: string;
  incarnation: string;
  state: ProcessRow['state'];
  pid: number | null;
  pgid: number | null;
  sid: number | null;
  starttime: number | null;
  command: string;
  created_at: number;
  boot_id: string | null;
}

/**
 * The registry's schema, versioned in `PRAGMA user_version` like the task store's (never edit a
 * shipped migration: append). Files written before the versioning have the table at version 0;
 * the first migration's IF NOT EXISTS takes them as they are.
 */
const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  // 1: one row per spawn.
  (db) =>
    db.exec(`CREATE TABLE IF NOT EXISTS processes (
      run_id TEXT PRIMARY KEY, task_id TEXT NOT NULL, node_id TEXT NOT NULL, incarnation TEXT NOT NULL,
      state TEXT NOT NULL, pid INTEGER, pgid INTEGER, sid INTEGER, starttime INTEGER,
      command TEXT NOT NULL, created_at INTEGER NOT NULL)`),
  // 2: the boot a row was written in (pids and start times mean nothing in another one; NULL:
  // written before this column), and since when only unprovable processes are left of its run.
  (db) => db.exec('ALTER TABLE processes ADD COLUMN boot_id TEXT; ALTER TABLE processes ADD COLUMN unproven_since INTEGER'),
];

/**
 * The process registry in its own SQLite file under the data dir (machine-local even when the
 * task store is NATS). synchronous=FULL: the intent row must be on disk before the spawn, or a
 * power cut could leave a process nobody knows about.
 */
export class SqliteProcessRegistry implements ProcessRegistry {
  readonly #db: Database.Database;
  readonly #clock: Clock;
  readonly #bootId: string | undefined;

  /** `bootId` defaults to this host's current boot (tests pass another to play a row from before a reboot). */
  constructor(path: string, clock: Clock, options: { bootId?: string | undefined } = {}) {
    mkdirSync(dirname(path), { recursive: true });
    this.#db = new Database(path, { timeout: 5000 });
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = FULL');
    applyMigrations(this.#db, path, MIGRATIONS);
    this.#clock = clock;
    this.#bootId = 'bootId' in options ? options.bootId : readBootId();
  }

  async recordIntent(row: Pick<ProcessRow, 'runId' | 'taskId' | 'nodeId' | 'incarnation' | 'command'>): Promise<void> {
    this.#db
      .prepare("INSERT INTO processes (run_id, task_id, node_id, incarnation, state, command, created_at, boot_id) VALUES (?, ?, ?, ?, 'intent', ?, ?, ?)")
      .run(row.runId, row.taskId, row.nodeId, row.incarnation, row.command.slice(0, 2000), this.#clock.now(), this.#bootId ?? null);
  }

  async recordSpawned(runId: string, id: { pid: number; pgid: number; sid: number; starttime: number }): Promise<void> {
    this.#db.prepare("UPDATE processes SET state = 'spawned', pid = ?, pgid = ?, sid = ?, starttime = ? WHERE run_id = ?").run(id.pid, id.pgid, id.sid, id.starttime, runId);
  }

  async markHandoff(runId: string): Promise<void> {
    this.#db.prepare("UPDATE processes SET state = 'handoff' WHERE run_id = ?").run(runId);
  }

  async clear(runId: string): Promise<void> {
    this.#db.prepare('DELETE FROM processes WHERE run_id = ?').run(runId);
  }

  async unprovenFor(runId: string): Promise<number> {
    const now = this.#clock.now();
    const row = this.#db
      .prepare<[number, string], { since: number }>('UPDATE processes SET unproven_since = coalesce(unproven_since, ?) WHERE run_id = ? RETURNING unproven_since AS since')
      .get(now, runId);
    return row === undefined ? 0 : Math.max(0, now - row.since);
  }

  async list(): Promise<ProcessRow[]> {
    return this.#db.prepare<[], Row>('SELECT * FROM processes ORDER BY created_at').all().map((r) => {
      const row: ProcessRow = { runId: r.run_id, taskId: r.task_id, nodeId: r.node_id, incarnation: r.incarnation, state: r.state, command: r.command, createdAt: r.created_at };
      if (r.pid !== null) row.pid = r.pid;
      if (r.pgid !== null) row.pgid = r.pgid;
      if (r.sid !== null) row.sid = r.sid;
      if (r.starttime !== null) row.starttime = r.starttime;
      if (r.boot_id !== null) row.bootId = r.boot_id;
      return row;
    });
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}
