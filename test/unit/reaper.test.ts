import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reapOrphans } from '../../src/actors/reaper.ts';
import { UNPROVEN } from '../../src/platform/run-members.ts';
import type { KillTarget, ProcessControl, ProcessEntry } from '../../src/ports/process-control.ts';
import { SqliteProcessRegistry } from '../../src/store/sqlite/process-registry.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { recordingLogger } from '../support/recording-logger.ts';
import { tempDir } from '../support/temp-dir.ts';

const BOOT = 'boot-1';

/** The OS, faked at the process boundary: a table of live processes. */
class FakeOs implements ProcessControl {
  readonly live = new Map<number, Omit<ProcessEntry, 'pid' | 'ppid' | 'runId'> & { env?: string | null; ppid?: number }>();
  readonly killed: number[] = [];
  readonly groupsSignalled: number[] = [];
  snapshot(): ProcessEntry[] {
    return [...this.live].map(([pid, p]) => ({ pid, ppid: p.ppid ?? 1, pgrp: p.pgrp, session: p.session, starttime: p.starttime, runId: p.env }));
  }
  readonly waves: number[][] = [];
  async killTrees(targets: readonly KillTarget[]) {
    this.waves.push(targets.flatMap((t) => t.members.map((m) => m.pid)));
    return targets.map((target) => {
      for (const { pid } of target.members) {
        this.killed.push(pid);
        this.live.delete(pid);
      }
      if (target.pgid !== undefined) this.groupsSignalled.push(target.pgid);
      return { survivors: [] };
    });
  }
  bootId() {
    return BOOT;
  }
}

describe('reaper', () => {
  let dir: ReturnType<typeof tempDir>;
  let registry: SqliteProcessRegistry;
  let os: FakeOs;
  const log = recordingLogger();
  beforeEach(() => {
    dir = tempDir();
    registry = new SqliteProcessRegistry(join(dir.path, 'processes.db'), new FakeClock(), { bootId: BOOT });
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

  it('reaps a handoff of the live incarnation', async () => {
    await spawned('h1', 'now', 300, 7);
    await registry.markHandoff('h1');
    os.live.set(300, { starttime: 7, pgrp: 300, session: 300 });
    expect((await reap()).reaped).toBe(1);
    expect(os.killed).toEqual([300]);
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

  it('kills what is left of a run whose root is gone: its marked processes, then its proven group', async () => {
    await spawned('rootless', 'before', 500, 10);
    os.live.set(501, { starttime: 11, pgrp: 500, session: 500, env: 'rootless' });
    os.live.set(502, { starttime: 12, pgrp: 500, session: 500 }); // exec'd with a cleared environment
    os.live.set(503, { starttime: 13, pgrp: 503, session: 503, env: 'rootless' }); // left with setsid
    const report = await reap();
    expect(os.killed.sort()).toEqual([501, 502, 503]);
    expect(os.groupsSignalled).toEqual([500]);
    expect(report).toMatchObject({ reaped: 1, skipped: [] });
    expect(await registry.list()).toEqual([]);
  });

  it('leaves alone a group nothing proves to be the run\'s, another run\'s processes, and ones older than the root', async () => {
    await spawned('gone', 'before', 600, 10);
    os.live.set(601, { starttime: 11, pgrp: 600, session: 600 }); // no marker, no voucher
    await spawned('other', 'before', 700, 10);
    os.live.set(701, { starttime: 11, pgrp: 700, session: 700, env: 'someone-else' });
    await spawned('old', 'before', 800, 10);
    os.live.set(801, { starttime: 11, pgrp: 800, session: 800, env: 'old' });
    os.live.set(802, { starttime: 9, pgrp: 800, session: 800 }); // started before the root: not its
    const report = await reap();
    expect(os.killed).toEqual([801]);
    expect(os.groupsSignalled).toEqual([]); // a foreign member: no group signal, one by one
    expect(report.skipped).toEqual([{ pid: 601, reason: expect.stringMatching(/nothing proves/) }]);
    // The unprovable process keeps its row, so that the next pass and `reeve reap` see it.
    expect((await registry.list()).map((r) => r.runId)).toEqual(['gone']);
  });

  it('keeps a row whose group holds only unprovable processes for unprovenKeepMs, reporting them each pass, then forgets it', async () => {
    const clock = new FakeClock();
    await registry.close();
    registry = new SqliteProcessRegistry(join(dir.path, 'processes.db'), clock, { bootId: BOOT });
    await spawned('gone', 'before', 600, 10);
    os.live.set(601, { starttime: 11, pgrp: 600, session: 600 });
    expect((await reap({ unprovenKeepMs: 60_000 })).skipped).toEqual([{ pid: 601, reason: UNPROVEN }]);
    clock.advance(59_999);
    expect((await reap({ unprovenKeepMs: 60_000 })).skipped).toEqual([{ pid: 601, reason: UNPROVEN }]);
    expect(await registry.list()).toHaveLength(1);
    clock.advance(1);
    await reap({ unprovenKeepMs: 60_000 });
    expect(await registry.list()).toEqual([]);
    expect(os.killed).toEqual([]);
  });

  it('proves a process by its parent: a child of a proven process is the run\'s even with no marker and outside the group and session', async () => {
    await spawned('tree', 'before', 900, 10);
    os.live.set(901, { starttime: 11, pgrp: 900, session: 900, env: 'tree' });
    os.live.set(902, { starttime: 12, pgrp: 902, session: 902, env: null, ppid: 901 }); // non-dumpable, own session (setsid)
    os.live.set(903, { starttime: 13, pgrp: 902, session: 902, ppid: 902 }); // its child, cleared environment
    os.live.set(904, { starttime: 14, pgrp: 904, session: 904, ppid: 903, env: 'another-run' }); // a nested run: not ours
    const report = await reap();
    expect(os.killed.sort()).toEqual([901, 902, 903]);
    expect(report.skipped).toEqual([]);
    expect(await registry.list()).toEqual([]);
  });
});

