import { execa } from 'execa';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { reapOrphans } from '../../src/actors/reaper.ts';
import { osProcessControl } from '../../src/pool/os-process-control.ts';
import { isAlive, isLiveStat, processesIn, readProcStat } from '../../src/pool/proc.ts';
import { SqliteProcessRegistry } from '../../src/store/sqlite/process-registry.ts';
import { recordingLogger } from '../support/recording-logger.ts';
import { tempDir } from '../support/temp-dir.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/procs/${name}`, import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
  /**
   * Starts `sh -c script` in its own group and session with only PATH (and REEVE_RUN_ID, if
   * given) in its environment, waits until `sleeps` sleep processes run in its session and the
   * root has exited, and returns the root's identity and what is left of its session.
   */
  async function rootlessTree(args: string[], sleeps: number, runId?: string) {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(runId ? { REEVE_RUN_ID: runId } : {}) };
    const child = execa('sh', args, { detached: true, reject: false, stdio: 'ignore', env, extendEnv: false });
    const pid = child.pid!;
    started.push(pid);
    const starttime = readProcStat(pid)!.starttime;
    const left = () => processesIn({ sid: pid }).filter((s) => s.comm === 'sleep');
    for (let i = 0; i < 250 && left().length < sleeps; i++) await sleep(20);
    await child;
    expect(left()).toHaveLength(sleeps);
    const members = processesIn({ sid: pid }).map((s) => ({ pid: s.pid, starttime: s.starttime }));
    return { pid, starttime, members, sleeps: left().map((s) => ({ pid: s.pid, starttime: s.starttime })) };
  }
  const stillAlive = (procs: Array<{ pid: number; starttime: number }>) => procs.filter((p) => isAlive(p.pid, p.starttime));

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

  it('kills the helpers of a run whose root has exited (they ignore SIGTERM), then clears its row', async () => {
    const registry = await setup();
    const tree = await rootlessTree([fixture('helpers-outlive-root.sh')], 3, 'run-rootless');
    await registry.recordIntent({ runId: 'run-rootless', taskId: 't1', nodeId: 'n', incarnation: 'dead', command: 'sh' });
    await registry.recordSpawned('run-rootless', { pid: tree.pid, pgid: tree.pid, sid: tree.pid, starttime: tree.starttime });
    expect(readProcStat(tree.pid)).toBeUndefined(); // the root is gone: only its helpers are left
    const report = await reap(registry);
    expect(stillAlive(tree.members)).toEqual([]);
    expect(processesIn({ sid: tree.pid }).filter(isLiveStat)).toEqual([]);
    expect(report).toMatchObject({ reaped: 1, skipped: [] });
    expect(report.alive.map((a) => a.pid)).toEqual(tree.members.map((s) => s.pid));
    expect(await registry.list()).toEqual([]);
    await registry.close();
  });

  it('never signals processes of an unrelated group that took the recorded group number, nor those of another run', async () => {
    const registry = await setup();
    // Both trees look like a rootless run of the row: group and session = the recorded pid, every
    // member younger than the recorded root. One carries no REEVE_RUN_ID (a login session, say),
    // the other carries another run's.
    const stranger = await rootlessTree(['-c', 'sleep 300 & exit 0'], 1);
    const otherRun = await rootlessTree(['-c', 'sleep 300 & exit 0'], 1, 'run-other');
    for (const [runId, tree] of [['run-a', stranger], ['run-b', otherRun]] as const) {
      await registry.recordIntent({ runId, taskId: `t-${runId}`, nodeId: 'n', incarnation: 'dead', command: 'sh' });
      await registry.recordSpawned(runId, { pid: tree.pid, pgid: tree.pid, sid: tree.pid, starttime: tree.starttime });
    }
    const report = await reap(registry);
    expect(stillAlive(stranger.members)).toEqual(stranger.members);
    expect(stillAlive(otherRun.members)).toEqual(otherRun.members);
    expect(report).toMatchObject({ reaped: 0, alive: [] });
    expect(report.skipped).toEqual([{ pid: stranger.sleeps[0]!.pid, reason: expect.stringMatching(/not provably the run's|nothing proves/) }]);
    // The stranger's group keeps its row (bounded by unprovenKeepMs): the next pass looks again.
    expect((await registry.list()).map((r) => r.runId)).toEqual(['run-a']);
    await registry.close();
  });
});

