import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SCHEMA_VERSION } from '../../src/store/sqlite/schema.ts';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { tempDir } from '../support/temp-dir.ts';

describe('SQLite task store file', () => {
  const dirs: Array<{ remove(): void }> = [];
  afterEach(() => dirs.splice(0).forEach((d) => d.remove()));
  const dbPath = () => {
    const dir = tempDir();
    dirs.push(dir);
    return join(dir.path, 'nested', 'reeve.db');
  };

  it('keeps state, lease, heartbeat, attempts, history and compensations when the file is closed and reopened', async () => {
    const path = dbPath();
    const clock = new FakeClock();
    const store = openSqliteTaskStore({ path, clock, durability: 'full' });
    await store.submit({ id: 't', kind: 'ship', input: { issue: 7 } });
    const [t] = await store.claim({ owner: 'n:1', limit: 1, leaseTtlMs: 15_000 });
    clock.advance(2000);
    const hb = await store.heartbeat({ id: 't', owner: 'n:1', revision: t!.revision, leaseTtlMs: 15_000 });
    await store.transition({
      id: 't', revision: hb.revision, owner: 'n:1', to: 'compensating', reason: 'gave up', leaseTtlMs: 15_000,
      attempts: { transient: 3, permanent: 2, crashes: 1 }, compensations: [{ step: 'branch', status: 'done', at: clock.now() }],
      snapshot: { value: 'compensating' },
    });
    const before = await store.get('t');
    await store.close();

    const reopened = openSqliteTaskStore({ path, clock });
    expect(await reopened.get('t')).toEqual(before);
    expect(before?.history.map((h) => h.to)).toEqual(['queued', 'running', 'compensating']);
    // The lease is still enforced after the restart.
    clock.advance(15_000);
    expect((await reopened.listStale()).map((s) => s.id)).toEqual(['t']);
    await reopened.close();
  });

  it('applies its migrations once and is idempotent on every open', async () => {
    const path = dbPath();
    for (let i = 0; i < 3; i++) await openSqliteTaskStore({ path }).close();
    const db = new Database(path);
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    db.close();
  });

  it('upgrades a file of the previous schema (nodes without task counts) and keeps its rows', async () => {
    const path = dbPath();
    const first = openSqliteTaskStore({ path });
    const node = { id: 'n-1', incarnation: 'i1', state: 'up' as const, capacity: 2, running: 1, startedAt: 1, lastSeenAt: 2, pid: 3, host: 'h' };
    await first.recordNode(node);
    await first.close();
    // Back to what version 3 wrote: no task counts, no notification outbox.
    const db = new Database(path);
    db.exec('DROP TABLE notifications; ALTER TABLE nodes DROP COLUMN task_counts');
    db.pragma('user_version = 3');
    db.close();

    const upgraded = openSqliteTaskStore({ path });
    expect(await upgraded.listNodes()).toEqual([node]);
    await upgraded.recordNode({ ...node, lastSeenAt: 4, taskCounts: { queued: 1 } });
    expect(await upgraded.listNodes()).toEqual([{ ...node, lastSeenAt: 4, taskCounts: { queued: 1 } }]);
    await upgraded.close();
    const after = new Database(path);
    expect(after.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(after.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'notifications'").get()).toEqual({ name: 'notifications' });
    after.close();
  });

  it('refuses a file written by a newer Reeve, saying what to do', async () => {
    const path = dbPath();
    await openSqliteTaskStore({ path }).close();
    const db = new Database(path);
    db.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    expect(() => openSqliteTaskStore({ path })).toThrow(expect.objectContaining({ code: 'STORE_SCHEMA', message: expect.stringMatching(/upgrade Reeve/) }));
  });

  it('reports a path it cannot open as STORE_UNAVAILABLE naming the path', () => {
    const dir = tempDir();
    dirs.push(dir);
    const file = join(dir.path, 'a-file');
    writeFileSync(file, 'not a directory');
    const path = join(file, 'reeve.db');
    expect(() => openSqliteTaskStore({ path })).toThrow(expect.objectContaining({ code: 'STORE_UNAVAILABLE', message: expect.stringContaining(path) }));
  });
});
