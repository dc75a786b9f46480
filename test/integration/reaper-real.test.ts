import { execa } from 'execa';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reapOrphans } from '../../src/actors/reaper.ts';
import { osProcessControl } from '../../src/pool/os-process-control.ts';
import { isAlive, readProcStat } from '../../src/pool/proc.ts';
import { SqliteProcessRegistry } from '../../src/store/sqlite/process-registry.ts';
import { recordingLogger } from '../support/recording-logger.ts';
import { tempDir } from '../support/temp-dir.ts';

describe('reaper against real processes', () => {
  const started: number[] = [];
  const dirs: Array<{ remove(): void }> = [];
  afterEach(() => {
    for (const pid of started.splice(0)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    dirs.splice(0).forEach((d) => d.remove());
  });

  async function setup() {
    const dir = tempDir();
    dirs.push(dir);
    return new SqliteProcessRegistry(join(dir.path, 'processes.db'), { now: () => Date.now() });
  }
  function sleeper() {
    const child = execa('sleep', ['300'], { detached: true, reject: false, stdio: 'ignore' });
    started.push(child.pid!);
    return child.pid!;
  }
  const reap = (registry: SqliteProcessRegistry, protectedPids: number[] = []) =>
    reapOrphans({ registry, control: osProcessControl({ protectedPids }), liveOwners: new Set(['n:now']), protectedPids: new Set(protectedPids), graceMs: 500, log: recordingLogger() });

  it('kills an orphan whose pid and start time match, and leaves a process that reused the pid alone', async () => {
    const registry = await setup();
    const orphan = sleeper();
    const unrelated = sleeper();
    const stat = (pid: number) => readProcStat(pid)!;
    await registry.recordIntent({ runId: 'a', taskId: 't1', nodeId: 'n', incarnation: 'dead', command: 'sleep' });
    await registry.recordSpawned('a', { pid: orphan, pgid: orphan, sid: orphan, starttime: stat(orphan).starttime });
    // A row whose pid now belongs to an unrelated process (its start time differs).
    await registry.recordIntent({ runId: 'b', taskId: 't2', nodeId: 'n', incarnation: 'dead', command: 'sleep' });
    await registry.recordSpawned('b', { pid: unrelated, pgid: unrelated, sid: unrelated, starttime: stat(unrelated).starttime - 1 });
    const report = await reap(registry);
    expect(report.reaped).toBe(1);
    expect(report.skipped).toEqual([{ pid: unrelated, reason: expect.stringMatching(/reused/) }]);
    expect(isAlive(orphan)).toBe(false);
    expect(isAlive(unrelated)).toBe(true);
    expect(await registry.list()).toEqual([]);
    await registry.close();
  });

  it('never signals a protected pid, and reaps then clears a dispatch handoff', async () => {
    const registry = await setup();
    const keep = sleeper();
    const handoff = sleeper();
    await registry.recordIntent({ runId: 'p', taskId: 't1', nodeId: 'n', incarnation: 'dead', command: 'sleep' });
    await registry.recordSpawned('p', { pid: keep, pgid: keep, sid: keep, starttime: readProcStat(keep)!.starttime });
    await registry.recordIntent({ runId: 'h', taskId: 't2', nodeId: 'n', incarnation: 'now', command: 'sleep' });
    await registry.recordSpawned('h', { pid: handoff, pgid: handoff, sid: handoff, starttime: readProcStat(handoff)!.starttime });
    await registry.markHandoff('h');
    const report = await reap(registry, [keep]);
    expect(isAlive(keep)).toBe(true);
    expect(isAlive(handoff)).toBe(false);
    expect(report.skipped).toContainEqual({ pid: keep, reason: 'protected pid' });
    expect((await registry.list()).map((r) => r.runId)).toEqual(['p']);
    await registry.close();
  });

  it('clearTask settles the handoffs of a task, also those written before this registry was opened', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const open = () => new SqliteProcessRegistry(join(dir.path, 'processes.db'), { now: () => Date.now() });
    const first = open();
    await first.recordIntent({ runId: 'h1', taskId: 'done', nodeId: 'n', incarnation: 'old', command: 'sleep' });
    await first.markHandoff('h1');
    await first.recordIntent({ runId: 'h2', taskId: 'other', nodeId: 'n', incarnation: 'old', command: 'sleep' });
    await first.markHandoff('h2');
    await first.close();
    const reopened = open();
    await reopened.clearTask('done');
    expect((await reopened.list()).map((r) => r.runId)).toEqual(['h2']);
    await reopened.recordIntent({ runId: 'h3', taskId: 'later', nodeId: 'n', incarnation: 'now', command: 'sleep' });
    await reopened.markHandoff('h3');
    await reopened.clearTask('later');
    expect((await reopened.list()).map((r) => r.runId)).toEqual(['h2']);
    await reopened.close();
  });
});
