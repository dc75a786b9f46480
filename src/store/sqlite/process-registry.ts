import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Clock } from '../../ports/clock.ts';
import type { ProcessRegistry, ProcessRow } from '../../ports/process-registry.ts';

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
}

/**
 * The process registry in its own SQLite file under the data dir (machine-local even when the
 * task store is NATS). synchronous=FULL: the intent row must be on disk before the spawn, or a
 * power cut could leave a process nobody knows about.
 */
export class SqliteProcessRegistry implements ProcessRegistry {
  readonly #db: Database.Database;
  readonly #clock: Clock;
  readonly #clearTask: Database.Statement<[string]>;
  /**
   * Tasks with a handoff row: read at open, kept by markHandoff and clearTask. clearTask runs on
   * every success and nearly always finds nothing, so it asks this set, not SQLite (a query per
   * task was ~1.6 % of a busy node's CPU). A row another process added is missed, i.e. kept
   * until the next start's reap finds its process gone and drops it.
   */
  readonly #handoffTasks: Set<string>;

  constructor(path: string, clock: Clock) {
    mkdirSync(dirname(path), { recursive: true });
    this.#db = new Database(path, { timeout: 5000 });
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = FULL');
    this.#db.exec(`CREATE TABLE IF NOT EXISTS processes (
      run_id TEXT PRIMARY KEY, task_id TEXT NOT NULL, node_id TEXT NOT NULL, incarnation TEXT NOT NULL,
      state TEXT NOT NULL, pid INTEGER, pgid INTEGER, sid INTEGER, starttime INTEGER,
      command TEXT NOT NULL, created_at INTEGER NOT NULL)`);
    this.#clock = clock;
    this.#handoffTasks = new Set(this.#db.prepare<[], { task_id: string }>("SELECT DISTINCT task_id FROM processes WHERE state = 'handoff'").all().map((r) => r.task_id));
    this.#clearTask = this.#db.prepare("DELETE FROM processes WHERE task_id = ? AND state = 'handoff'");
  }

  async recordIntent(row: Pick<ProcessRow, 'runId' | 'taskId' | 'nodeId' | 'incarnation' | 'command'>): Promise<void> {
    this.#db
      .prepare("INSERT INTO processes (run_id, task_id, node_id, incarnation, state, command, created_at) VALUES (?, ?, ?, ?, 'intent', ?, ?)")
      .run(row.runId, row.taskId, row.nodeId, row.incarnation, row.command.slice(0, 2000), this.#clock.now());
  }

  async recordSpawned(runId: string, id: { pid: number; pgid: number; sid: number; starttime: number }): Promise<void> {
    this.#db.prepare("UPDATE processes SET state = 'spawned', pid = ?, pgid = ?, sid = ?, starttime = ? WHERE run_id = ?").run(id.pid, id.pgid, id.sid, id.starttime, runId);
  }

  async markHandoff(runId: string): Promise<void> {
    const row = this.#db.prepare<[string], { task_id: string }>("UPDATE processes SET state = 'handoff' WHERE run_id = ? RETURNING task_id").get(runId);
    if (row) this.#handoffTasks.add(row.task_id);
  }

  async clear(runId: string): Promise<void> {
    this.#db.prepare('DELETE FROM processes WHERE run_id = ?').run(runId);
  }

  async clearTask(taskId: string): Promise<void> {
    if (!this.#handoffTasks.delete(taskId)) return;
    this.#clearTask.run(taskId);
  }

  async list(): Promise<ProcessRow[]> {
    return this.#db.prepare<[], Row>('SELECT * FROM processes ORDER BY created_at').all().map((r) => {
      const row: ProcessRow = { runId: r.run_id, taskId: r.task_id, nodeId: r.node_id, incarnation: r.incarnation, state: r.state, command: r.command, createdAt: r.created_at };
      if (r.pid !== null) row.pid = r.pid;
      if (r.pgid !== null) row.pgid = r.pgid;
      if (r.sid !== null) row.sid = r.sid;
      if (r.starttime !== null) row.starttime = r.starttime;
      return row;
    });
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
  }
}
