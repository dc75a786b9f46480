import type Database from 'better-sqlite3';
import { ErrorCode, ReeveError } from '../../errors.ts';

/**
 * Versioned migrations, tracked in `PRAGMA user_version`. Each runs in its own IMMEDIATE
 * transaction and re-checks the version inside it, so two processes opening a fresh file at
 * once apply each migration exactly once. Never edit a shipped migration: append a new one.
 */
const MIGRATIONS: ReadonlyArray<(db: Database.Database) => void> = [
  // 1: tasks, history, annotations, dead letters.
  (db) => {
    db.exec(`
      CREATE TABLE tasks (
        seq                INTEGER PRIMARY KEY AUTOINCREMENT, -- FIFO order within a priority
        id                 TEXT NOT NULL UNIQUE,
        kind               TEXT NOT NULL,
        state              TEXT NOT NULL,
        step               TEXT,
        priority           INTEGER NOT NULL DEFAULT 0,
        breaker_key        TEXT NOT NULL,
        timeout_ms         INTEGER,
        labels             TEXT,
        input              TEXT,
        attempts_transient INTEGER NOT NULL DEFAULT 0,
        attempts_permanent INTEGER NOT NULL DEFAULT 0,
        crashes            INTEGER NOT NULL DEFAULT 0,
        owner              TEXT,
        lease_expires_at   INTEGER,
        heartbeat_at       INTEGER,
        progress           TEXT,
        available_at       INTEGER NOT NULL,
        created_at         INTEGER NOT NULL,
        updated_at         INTEGER NOT NULL,
        result             TEXT,
        error              TEXT,
        compensations      TEXT NOT NULL DEFAULT '[]',
        snapshot           TEXT,
        cancel_requested   TEXT,
        history_count      INTEGER NOT NULL DEFAULT 0,
        revision           INTEGER NOT NULL
      );
      -- Claim walks this in order and stops at the first N available rows.
      CREATE INDEX tasks_claimable ON tasks (priority DESC, seq)
        WHERE owner IS NULL AND state IN ('queued', 'backoff');
      CREATE INDEX tasks_cleanup ON tasks (seq)
        WHERE owner IS NULL AND state IN ('cancelling', 'compensating');
      CREATE INDEX tasks_leases ON tasks (lease_expires_at) WHERE owner IS NOT NULL;
      -- No index on state or kind: each costs a page write on every state change (measured:
      -- ~15 % of claim+complete throughput), while listing by state is an operator query that
      -- scans newest-first and stops at its limit. See docs/ARCHITECTURE.md.

      CREATE TABLE task_history (
        task_id    TEXT NOT NULL,
        n          INTEGER NOT NULL,
        at         INTEGER NOT NULL,
        from_state TEXT,
        to_state   TEXT NOT NULL,
        reason     TEXT NOT NULL,
        PRIMARY KEY (task_id, n)
      ) WITHOUT ROWID;

      CREATE TABLE task_annotations (
        task_id TEXT NOT NULL,
        n       INTEGER NOT NULL,
        at      INTEGER NOT NULL,
        author  TEXT NOT NULL,
        text    TEXT NOT NULL,
        PRIMARY KEY (task_id, n)
      ) WITHOUT ROWID;

      CREATE TABLE dead_letters (
        seq         INTEGER PRIMARY KEY AUTOINCREMENT,
        received_at INTEGER NOT NULL,
        source      TEXT NOT NULL,
        code        TEXT NOT NULL,
        reason      TEXT NOT NULL,
        task_id     TEXT,
        excerpt     TEXT NOT NULL,
        payload     TEXT NOT NULL
      );
    `);
  },
  // 2: node membership (heartbeats), so another process can report it.
  (db) => {
    db.exec(`
      CREATE TABLE nodes (
        id           TEXT PRIMARY KEY,
        incarnation  TEXT NOT NULL,
        state        TEXT NOT NULL,
        capacity     INTEGER NOT NULL,
        running      INTEGER NOT NULL,
        started_at   INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        pid          INTEGER NOT NULL,
        host         TEXT NOT NULL
      );
    `);
  },
  // 3: circuit breakers and preflight results, shared by every process on this store.
  (db) => {
    db.exec(`
      CREATE TABLE breakers (
        key        TEXT PRIMARY KEY,
        state      TEXT NOT NULL,
        open_until INTEGER,
        snapshot   TEXT NOT NULL,
        revision   INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
      );
      CREATE TABLE preflight (
        kind       TEXT PRIMARY KEY,
        ok         INTEGER NOT NULL,
        reason     TEXT NOT NULL,
        checked_at INTEGER NOT NULL
      );
    `);
  },
  // 4: the task counts a node reports with its beacon (JSON; NULL: none reported).
  (db) => {
    db.exec('ALTER TABLE nodes ADD COLUMN task_counts TEXT');
  },
  // 5: the notification outbox, written in the transaction of the change each entry reports.
  (db) => {
    db.exec(`
      CREATE TABLE notifications (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        id              TEXT NOT NULL UNIQUE,
        event           TEXT NOT NULL,
        at              INTEGER NOT NULL,
        payload         TEXT NOT NULL,
        state           TEXT NOT NULL,          -- pending | failed (a delivered entry is deleted)
        attempts        INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL,
        last_error      TEXT,
        delivered       TEXT NOT NULL DEFAULT '[]', -- keys of the sinks that have it
        owner           TEXT,
        lease_expires_at INTEGER,
        updated_at      INTEGER NOT NULL,
        revision        INTEGER NOT NULL DEFAULT 1
      );
      CREATE INDEX notifications_due ON notifications (next_attempt_at) WHERE state = 'pending';
    `);
  },
];

export const SCHEMA_VERSION = MIGRATIONS.length;

function userVersion(db: Database.Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}

/** Brings the file to SCHEMA_VERSION. Idempotent; refuses a file written by a newer Reeve. */
export function migrate(db: Database.Database, file: string): void {
  applyMigrations(db, file, MIGRATIONS);
}

/**
 * Applies `migrations[user_version..]` in order, one IMMEDIATE transaction each that re-checks
 * the version inside it (two processes opening a fresh file at once apply each exactly once).
 * Refuses a file whose version is newer than `migrations.length`.
 */
export function applyMigrations(db: Database.Database, file: string, migrations: ReadonlyArray<(db: Database.Database) => void>): void {
  for (;;) {
    const applied = db.transaction(() => {
      const version = userVersion(db);
      if (version > migrations.length) {
        throw new ReeveError(
          ErrorCode.StoreSchema,
          `${file} has schema version ${version}, newer than this Reeve understands (${migrations.length}); upgrade Reeve`,
          { data: { file, version, supported: migrations.length } },
        );
      }
      const migration = migrations[version];
      if (!migration) return false;
      migration(db);
      db.pragma(`user_version = ${version + 1}`);
      return true;
    }).immediate();
    if (!applied) return;
  }
}
