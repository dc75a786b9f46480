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

/** A deferred write: run inside the next group commit, then settled. */
interface PendingWrite {
  runId: string;
  kind: 'intent' | 'spawned' | 'handoff' | 'clear';
  write: () => unknown;
  settle: { resolve: () => void; reject: (err: unknown) => void };
}

/**
 * The process registry in its own SQLite file under the data dir (machine-local even when the
 * task store is NATS).
 *
 * The intent row is committed before `recordIntent` resolves, so before the spawn: a crash of
 * this process at any later moment leaves the row for the reaper. synchronous=NORMAL (WAL): a
 * commit survives the process's crash (it is in the WAL, in the OS's page cache) but may be lost
 * with the host (a power cut, a kernel crash). That loses nothing the reaper needs: after the
 * host goes down none of its processes is left, and rows of an earlier boot are dropped without
 * signalling anyway. An fsync per commit (synchronous=FULL) blocked the main thread ~5 ms per
 * commit on this machine's disk, three times per run: it halved command-agent throughput.
 *
 * The writes after the spawn (the pid, the clear, a handoff) are group-committed on the next
 * turn of the event loop, or with the next intent, whichever comes first; a clear drops a
 * pending pid update of its run (the row goes anyway). Until then a crash leaves the row at
 * `intent` (the reaper finds the run by its REEVE_RUN_ID) or still present (the reaper finds
 * nothing left of the run and clears it). Reads (`list`, `unprovenFor`) commit pending writes
 * first.
 */
export class SqliteProcessRegistry implements ProcessRegistry {
  readonly #db: Database.Database;
  readonly #clock: Clock;
  readonly #bootId: string | undefined;
  readonly #sql;
  #pending: PendingWrite[] = [];
  #flushScheduled = false;

  /** `bootId` defaults to this host's current boot (tests pass another to play a row from before a reboot). */
  constructor(path: string, clock: Clock, options: { bootId?: string | undefined } = {}) {
    mkdirSync(dirname(path), { recursive: true });
    this.#db = new Database(path, { timeout: 5000 });
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
    applyMigrations(this.#db, path, MIGRATIONS);
    this.#clock = clock;
    this.#bootId = 'bootId' in options ? options.bootId : readBootId();
    const db = this.#db;
    this.#sql = {
      intent: db.prepare<[string, string, string, string, string, number, string | null]>(
        "INSERT INTO processes (run_id, task_id, node_id, incarnation, state, command, created_at, boot_id) VALUES (?, ?, ?, ?, 'intent', ?, ?, ?)",
      ),
      spawned: db.prepare<[number, number, number, number, string]>("UPDATE processes SET state = 'spawned', pid = ?, pgid = ?, sid = ?, starttime = ? WHERE run_id = ?"),
      handoff: db.prepare<[string]>("UPDATE processes SET state = 'handoff' WHERE run_id = ?"),
      clear: db.prepare<[string]>('DELETE FROM processes WHERE run_id = ?'),
      unproven: db.prepare<[number, string], { since: number }>('UPDATE processes SET unproven_since = coalesce(unproven_since, ?) WHERE run_id = ? RETURNING unproven_since AS since'),
      list: db.prepare<[], Row>('SELECT * FROM processes ORDER BY created_at'),
      commitPending: db.transaction((writes: PendingWrite[]) => {
        for (const w of writes) w.write();
      }),
    };
  }

  /** Committed (with any pending writes) before it resolves: no record, no spawn. */
  async recordIntent(row: Pick<ProcessRow, 'runId' | 'taskId' | 'nodeId' | 'incarnation' | 'command'>): Promise<void> {
    const now = this.#clock.now();
    const intent = this.#defer(row.runId, 'intent', () => this.#sql.intent.run(row.runId, row.taskId, row.nodeId, row.incarnation, row.command.slice(0, 2000), now, this.#bootId ?? null));
    this.#flush();
    return intent;
  }

  recordSpawned(runId: string, id: { pid: number; pgid: number; sid: number; starttime: number }): Promise<void> {
    return this.#deferred(runId, 'spawned', () => this.#sql.spawned.run(id.pid, id.pgid, id.sid, id.starttime, runId));
  }

  markHandoff(runId: string): Promise<void> {
    return this.#deferred(runId, 'handoff', () => this.#sql.handoff.run(runId));
  }

  clear(runId: string): Promise<void> {
    // The row is deleted: a pid update of the run still waiting would be written for nothing.
    const pending = this.#pending.filter((w) => w.runId !== runId || w.kind !== 'spawned');
    for (const dropped of this.#pending) if (!pending.includes(dropped)) dropped.settle.resolve();
    this.#pending = pending;
    return this.#deferred(runId, 'clear', () => this.#sql.clear.run(runId));
  }

  /** Queues a write for the group commit on the next turn of the event loop. */
  #deferred(runId: string, kind: PendingWrite['kind'], write: () => unknown): Promise<void> {
    const settled = this.#defer(runId, kind, write);
    if (!this.#flushScheduled) {
      this.#flushScheduled = true;
      setImmediate(() => this.#flush());
    }
    return settled;
  }

  #defer(runId: string, kind: PendingWrite['kind'], write: () => unknown): Promise<void> {
    return new Promise<void>((resolve, reject) => this.#pending.push({ runId, kind, write, settle: { resolve, reject } }));
  }

  /**
   * Commits every pending write in one transaction. If that fails, each is tried alone, so one
   * run's failing write (a constraint, a trigger) does not fail another run's.
   */
  #flush(): void {
    this.#flushScheduled = false;
    const writes = this.#pending;
    if (writes.length === 0) return;
    this.#pending = [];
    try {
      this.#commit(writes);
      for (const w of writes) w.settle.resolve();
    } catch (err) {
      // A locked file stays locked (each try would wait out the busy timeout again).
      const busy = (err as { code?: unknown }).code === 'SQLITE_BUSY';
      for (const w of writes) {
        if (busy || writes.length === 1) {
          w.settle.reject(err);
          continue;
        }
        try {
          this.#commit([w]);
          w.settle.resolve();
        } catch (alone) {
          w.settle.reject(alone);
        }
      }
    }
  }

  #commit(writes: PendingWrite[]): void {
    if (!this.#db.open) throw new Error('the process registry is closed');
    this.#sql.commitPending(writes);
  }

  async unprovenFor(runId: string): Promise<number> {
    this.#flush();
    const now = this.#clock.now();
    const row = this.#sql.unproven.get(now, runId);
    return row === undefined ? 0 : Math.max(0, now - row.since);
  }

  async list(): Promise<ProcessRow[]> {
    this.#flush();
    return this.#sql.list.all().map((r) => {
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
    this.#flush();
    if (this.#db.open) this.#db.close();
  }
}
