import { execa } from 'execa';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteProcessRegistry } from '../../src/store/sqlite/process-registry.ts';
import { tempDir } from '../support/temp-dir.ts';
import { tsxLoader } from '../support/tsx.ts';

const clock = { now: () => Date.now() };
/** Frames appended to the WAL: a commit appends at least one (the page it changed). */
const walFrames = (db: string) => Math.floor((statSync(`${db}-wal`).size - 32) / (4096 + 24));

describe('process registry (its own SQLite file)', () => {
  const dirs: Array<{ path: string; remove(): void }> = [];
  afterEach(() => dirs.splice(0).forEach((d) => d.remove()));
  const file = () => {
    const d = tempDir();
    dirs.push(d);
    return join(d.path, 'processes.db');
  };

  it('has the intent row committed once recordIntent resolves: a process killed right after leaves it for the reaper', async () => {
    const path = file();
    const fixture = fileURLToPath(new URL('../fixtures/intent-then-crash.ts', import.meta.url));
    const child = await execa(process.execPath, ['--import', tsxLoader, fixture, path], { reject: false });
    expect(child.signal).toBe('SIGKILL');
    const registry = new SqliteProcessRegistry(path, clock);
    expect((await registry.list()).map((r) => [r.runId, r.incarnation])).toEqual([['run-crash', 'crashed']]);
    await registry.close();
  });

  it("group-commits the writes after the spawn: many runs' pids and clears of one turn take one commit", async () => {
    const path = file();
    const registry = new SqliteProcessRegistry(path, clock);
    const runs = Array.from({ length: 20 }, (_, i) => `run-${i}`);
    for (const runId of runs) await registry.recordIntent({ runId, taskId: 't', nodeId: 'n', incarnation: 'i', command: 'true' });
    const before = walFrames(path);
    expect(before).toBeGreaterThanOrEqual(runs.length); // a commit per intent
    await Promise.all(runs.flatMap((runId, i) => [registry.recordSpawned(runId, { pid: 100 + i, pgid: 100 + i, sid: 100 + i, starttime: 1 }), ...(i % 2 ? [registry.clear(runId)] : [])]));
    expect(walFrames(path) - before).toBeLessThanOrEqual(2);
    const rows = await registry.list();
    expect(rows.map((r) => [r.runId, r.state, r.pid])).toEqual(runs.filter((_, i) => i % 2 === 0).map((runId) => [runId, 'spawned', 100 + Number(runId.slice(4))]));
    await registry.close();
  });

  it('commits the writes still pending before a read or close, so another reader sees them', async () => {
    const path = file();
    const registry = new SqliteProcessRegistry(path, clock);
    await registry.recordIntent({ runId: 'a', taskId: 't', nodeId: 'n', incarnation: 'i', command: 'true' });
    void registry.recordSpawned('a', { pid: 7, pgid: 7, sid: 7, starttime: 3 });
    void registry.markHandoff('a');
    await registry.close();
    const reader = new SqliteProcessRegistry(path, clock);
    expect((await reader.list()).map((r) => [r.state, r.pid])).toEqual([['handoff', 7]]);
    await reader.close();
  });

  it("does not fail one run's write because another run's write in the same commit failed", async () => {
    const path = file();
    const registry = new SqliteProcessRegistry(path, clock);
    await registry.recordIntent({ runId: 'ok', taskId: 't', nodeId: 'n', incarnation: 'i', command: 'true' });
    await registry.recordIntent({ runId: 'bad', taskId: 't', nodeId: 'n', incarnation: 'i', command: 'true' });
    const { default: Database } = await import('better-sqlite3');
    const other = new Database(path);
    other.exec("CREATE TRIGGER no_delete_bad BEFORE DELETE ON processes WHEN old.run_id = 'bad' BEGIN SELECT RAISE(ABORT, 'disk trouble'); END");
    other.close();
    const [ok, bad] = await Promise.allSettled([registry.recordSpawned('ok', { pid: 9, pgid: 9, sid: 9, starttime: 1 }), registry.clear('bad')]);
    expect(ok.status).toBe('fulfilled');
    expect(bad).toMatchObject({ status: 'rejected', reason: { message: 'disk trouble' } });
    expect((await registry.list()).map((r) => [r.runId, r.state])).toEqual([['ok', 'spawned'], ['bad', 'intent']]);
    await registry.close();
  });
});
