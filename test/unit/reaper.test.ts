import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reapOrphans } from '../../src/actors/reaper.ts';
import type { ProcessControl, ProcessIdentity } from '../../src/ports/process-control.ts';
import { SqliteProcessRegistry } from '../../src/store/sqlite/process-registry.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { recordingLogger } from '../support/recording-logger.ts';
import { tempDir } from '../support/temp-dir.ts';

/** The OS, faked at the process boundary: a table of live processes. */
class FakeOs implements ProcessControl {
  readonly live = new Map<number, ProcessIdentity & { env?: string }>();
  readonly killed: number[] = [];
  identity(pid: number) {
    return this.live.get(pid);
  }
  findByRunId(runId: string) {
    return [...this.live].filter(([, p]) => p.env === runId).map(([pid]) => pid);
  }
  async killTree(target: { rootPid: number }) {
    this.killed.push(target.rootPid);
    this.live.delete(target.rootPid);
    return { survivors: [] };
  }
}

describe('reaper', () => {
  let dir: ReturnType<typeof tempDir>;
  let registry: SqliteProcessRegistry;
  let os: FakeOs;
  const log = recordingLogger();
  beforeEach(() => {
    dir = tempDir();
    registry = new SqliteProcessRegistry(join(dir.path, 'processes.db'), new FakeClock());
    os = new FakeOs();
  });
  afterEach(async () => {
    await registry.close();
    dir.remove();
  });

  const spawned = async (runId: string, incarnation: string, pid: number, starttime: number) => {
    await registry.recordIntent({ runId, taskId: `task-${runId}`, nodeId: 'n1', incarnation, command: 'agent' });
    await registry.recordSpawned(runId, { pid, pgid: pid, sid: pid, starttime });
  };
  const reap = (extra: Partial<Parameters<typeof reapOrphans>[0]> = {}) =>
    reapOrphans({ registry, control: os, liveOwners: new Set(['n1:now']), protectedPids: new Set(), graceMs: 10, log, ...extra });

  it('kills the trees of a dead incarnation and clears their rows, leaving the live incarnation alone', async () => {
    await spawned('old', 'before', 100, 5);
    await spawned('mine', 'now', 200, 6);
    os.live.set(100, { starttime: 5, pgrp: 100, session: 100 });
    os.live.set(200, { starttime: 6, pgrp: 200, session: 200 });
    const report = await reap();
    expect(report).toEqual({ reaped: 1, skipped: [], alive: [{ pid: 100, taskId: 'task-old', runId: 'old' }] });
    expect(os.killed).toEqual([100]);
    expect((await registry.list()).map((r) => r.runId)).toEqual(['mine']);
  });

  it('never kills a process that merely reused a pid, and drops its row', async () => {
    await spawned('old', 'before', 100, 5);
    os.live.set(100, { starttime: 999, pgrp: 100, session: 100 });
    const report = await reap();
    expect(report.skipped).toEqual([{ pid: 100, reason: expect.stringMatching(/reused/) }]);
    expect(os.killed).toEqual([]);
    expect(await registry.list()).toEqual([]);
  });

  it('skips protected pids and keeps their row', async () => {
    await spawned('old', 'before', 100, 5);
    os.live.set(100, { starttime: 5, pgrp: 100, session: 100 });
    const report = await reap({ protectedPids: new Set([100]) });
    expect(report.skipped).toEqual([{ pid: 100, reason: 'protected pid' }]);
    expect(os.killed).toEqual([]);
    expect(await registry.list()).toHaveLength(1);
  });

  it('reaps a handoff of the live incarnation, and clearTask settles handoffs of a task that later succeeded', async () => {
    await spawned('h1', 'now', 300, 7);
    await registry.markHandoff('h1');
    os.live.set(300, { starttime: 7, pgrp: 300, session: 300 });
    expect((await reap()).reaped).toBe(1);
    await spawned('h2', 'now', 301, 8);
    await registry.markHandoff('h2');
    await registry.clearTask('task-h2');
    expect(await registry.list()).toEqual([]);
  });

  it('finds the process of an intent whose spawn was never recorded by its REEVE_RUN_ID', async () => {
    await registry.recordIntent({ runId: 'lost', taskId: 't', nodeId: 'n1', incarnation: 'before', command: 'agent' });
    os.live.set(400, { starttime: 9, pgrp: 400, session: 400, env: 'lost' });
    expect((await reap()).reaped).toBe(1);
    expect(os.killed).toEqual([400]);
    await registry.recordIntent({ runId: 'never', taskId: 't2', nodeId: 'n1', incarnation: 'before', command: 'agent' });
    expect((await reap()).reaped).toBe(0);
    expect(await registry.list()).toEqual([]);
  });

  it('reports without killing in a dry run', async () => {
    await spawned('old', 'before', 100, 5);
    os.live.set(100, { starttime: 5, pgrp: 100, session: 100 });
    const report = await reap({ dryRun: true });
    expect(report).toMatchObject({ reaped: 0, alive: [{ pid: 100 }] });
    expect(os.killed).toEqual([]);
    expect(await registry.list()).toHaveLength(1);
  });
});
