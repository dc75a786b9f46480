import { execa } from 'execa';
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { reapOrphans } from '../../src/actors/reaper.ts';
import { killRunTree } from '../../src/pool/kill-tree.ts';
import { LeftoverSweep } from '../../src/pool/leftover-sweep.ts';
import { osProcessControl } from '../../src/pool/os-process-control.ts';
import { CommandRunner } from '../../src/pool/command-runner.ts';
import { isAlive, processesIn, readProcStat } from '../../src/pool/proc.ts';
import type { RunRequest } from '../../src/ports/runner.ts';
import { UNPROVEN } from '../../src/platform/run-members.ts';
import { SqliteProcessRegistry } from '../../src/store/sqlite/process-registry.ts';
import { recordingLogger } from '../support/recording-logger.ts';
import { tempDir } from '../support/temp-dir.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
type Proc = { pid: number; starttime: number };

describe('run identity with real processes', () => {
  const groups: number[] = [];
  const dirs: Array<{ path: string; remove(): void }> = [];
  afterEach(() => {
    for (const pid of groups.splice(0)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    dirs.splice(0).forEach((d) => d.remove());
  });
  const dir = () => {
    const d = tempDir();
    dirs.push(d);
    return d.path;
  };

  /** `sh -c script` in a group and session of its own, with only PATH and (if given) a REEVE_RUN_ID. */
  function detached(script: string, runId?: string, extra: Record<string, string> = {}) {
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', ...(runId ? { REEVE_RUN_ID: runId } : {}), ...extra };
    const child = execa('sh', ['-c', script], { detached: true, reject: false, stdio: 'ignore', env, extendEnv: false });
    groups.push(child.pid!);
    return { child, pid: child.pid!, starttime: readProcStat(child.pid!)!.starttime };
  }
  /** A group whose root has exited, leaving `sleeps` sleeps: what a reused group number looks like. */
  async function rootless(runId?: string) {
    const tree = detached('sleep 300 & exit 0', runId);
    await tree.child;
    for (let i = 0; i < 250 && processesIn({ pgid: tree.pid }).length === 0; i++) await sleep(20);
    const members = processesIn({ pgid: tree.pid }).map((s): Proc => ({ pid: s.pid, starttime: s.starttime }));
    expect(members).toHaveLength(1);
    return { ...tree, members };
  }
  const alive = (procs: Proc[]) => procs.filter((p) => isAlive(p.pid, p.starttime));

  it("the sweep after a run ends takes nothing from a group that now holds a stranger's or another run's processes", async () => {
    const stranger = await rootless();
    const otherRun = await rootless('run-other');
    const sweep = new LeftoverSweep(0);
    // As if our run's root had been one of these numbers: reaped, and the number handed on.
    const asOurs = (t: { pid: number; starttime: number }) => sweep.find({ runId: 'run-ours', pid: t.pid, pgid: t.pid, sid: t.pid, starttime: t.starttime - 1 });
    const [a, b] = await Promise.all([asOurs(stranger), asOurs(otherRun)]);
    expect(a).toMatchObject({ members: [], skipped: [{ pid: stranger.members[0]!.pid, reason: UNPROVEN }] });
    expect(b).toMatchObject({ members: [], skipped: [] });
    // Without a recorded start time nothing is "younger than the root" by default either.
    const noStart = await sweep.find({ runId: 'run-ours', pid: stranger.pid, pgid: stranger.pid, sid: stranger.pid });
    expect(noStart.members).toEqual([]);
  });

  it('never signals a group whose members it knew are all gone, though the number is held by others now', async () => {
    const gone = detached('exit 0');
    await gone.child;
    const stranger = await rootless();
    // The proof was made when `gone` was alive; by the kill, the group number belongs to a stranger.
    const report = await killRunTree({ members: [{ pid: gone.pid, starttime: gone.starttime }], pgid: stranger.pid, sid: stranger.pid, graceMs: 200, protectedPids: [], pollMs: 20 });
    expect(report).toMatchObject({ sigterm: false, sigkill: false, survivors: [] });
    expect(alive(stranger.members)).toEqual(stranger.members);
  });

  it('kills many orphaned trees in one wave: every tree gets SIGTERM before any gets SIGKILL', async () => {
    const d = dir();
    const registry = new SqliteProcessRegistry(join(d, 'processes.db'), { now: () => Date.now() });
    const out = join(d, 'terms');
    const pids = join(d, 'pids');
    // Each root ignores SIGTERM, and on it notes how many of the roots are still alive.
    const script = `trap 'n=0; for p in $(cat ${pids}); do kill -0 $p 2>/dev/null && n=$((n+1)); done; echo $n >> ${out}' TERM; while :; do sleep 0.05; done`;
    const trees = [0, 1, 2].map((i) => detached(script, `run-${i}`));
    await execa('sh', ['-c', `echo ${trees.map((t) => t.pid).join(' ')} > ${pids}`]);
    for (const [i, t] of trees.entries()) {
      await registry.recordIntent({ runId: `run-${i}`, taskId: `t${i}`, nodeId: 'n', incarnation: 'dead', command: 'sh' });
      await registry.recordSpawned(`run-${i}`, { pid: t.pid, pgid: t.pid, sid: t.pid, starttime: t.starttime });
    }
    const report = await reapOrphans({ registry, control: osProcessControl({ protectedPids: [] }), liveOwners: new Set(), protectedPids: new Set(), graceMs: 500, log: recordingLogger() });
    expect(report.reaped).toBe(3);
    expect(alive(trees)).toEqual([]);
    expect(readFileSync(out, 'utf8').trim().split('\n')).toEqual(['3', '3', '3']);
    expect(await registry.list()).toEqual([]);
    await registry.close();
  });

  it('drops a row written in another boot without signalling its pid, and keeps rows of this boot', async () => {
    const d = dir();
    const tree = detached('exec sleep 300', 'run-before-reboot');
    const before = new SqliteProcessRegistry(join(d, 'processes.db'), { now: () => Date.now() }, { bootId: 'a-boot-before-this-one' });
    await before.recordIntent({ runId: 'run-before-reboot', taskId: 't', nodeId: 'n', incarnation: 'dead', command: 'sleep' });
    await before.recordSpawned('run-before-reboot', { pid: tree.pid, pgid: tree.pid, sid: tree.pid, starttime: tree.starttime });
    await before.close();
    const registry = new SqliteProcessRegistry(join(d, 'processes.db'), { now: () => Date.now() });
    const log = recordingLogger();
    const report = await reapOrphans({ registry, control: osProcessControl({ protectedPids: [] }), liveOwners: new Set(), protectedPids: new Set(), graceMs: 200, log });
    expect(report).toMatchObject({ reaped: 0, alive: [] });
    expect(isAlive(tree.pid, tree.starttime)).toBe(true);
    expect(await registry.list()).toEqual([]);
    expect(log.lines.map((l) => l.msg)).toContain('dropped a process row written before a reboot, without signalling');
    await registry.close();
  });

  it('adds the boot id to a registry file from before it was recorded, once, keeping its rows', async () => {
    const path = join(dir(), 'processes.db');
    const old = new Database(path);
    old.exec(`CREATE TABLE processes (
      run_id TEXT PRIMARY KEY, task_id TEXT NOT NULL, node_id TEXT NOT NULL, incarnation TEXT NOT NULL,
      state TEXT NOT NULL, pid INTEGER, pgid INTEGER, sid INTEGER, starttime INTEGER,
      command TEXT NOT NULL, created_at INTEGER NOT NULL)`);
    old.prepare("INSERT INTO processes VALUES ('r', 't', 'n', 'i', 'spawned', 5, 5, 5, 9, 'x', 1)").run();
    old.close();
    for (let i = 0; i < 2; i++) {
      const registry = new SqliteProcessRegistry(path, { now: () => 2 });
      await registry.recordIntent({ runId: `new-${i}`, taskId: 't', nodeId: 'n', incarnation: 'i', command: 'x' });
      const rows = await registry.list();
      expect(rows[0]).toEqual({ runId: 'r', taskId: 't', nodeId: 'n', incarnation: 'i', state: 'spawned', pid: 5, pgid: 5, sid: 5, starttime: 9, command: 'x', createdAt: 1 });
      expect(rows[i + 1]!.bootId).toBe(readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
      await registry.close();
    }
    const db = new Database(path);
    expect(db.pragma('user_version', { simple: true })).toBe(2);
    db.close();
  });

  it('hands a finished run\'s row to the reaper when settling it fails, instead of leaving it `spawned` under a live owner', async () => {
    const d = dir();
    const registry = new SqliteProcessRegistry(join(d, 'processes.db'), { now: () => Date.now() });
    // A store that cannot delete (a real SQLite failure, raised by a trigger from outside).
    const other = new Database(join(d, 'processes.db'));
    other.exec("CREATE TRIGGER no_delete BEFORE DELETE ON processes BEGIN SELECT RAISE(ABORT, 'disk trouble'); END");
    other.close();
    const log = recordingLogger();
    const runner = new CommandRunner({ clock: { now: () => Date.now() }, envAllowList: ['PATH'], registry, owner: { nodeId: 'n', incarnation: 'live' }, logDir: join(d, 'logs') });
    const request: RunRequest = {
      taskId: 't1', kind: 'k', step: 'run', attempt: 1, phase: 'run',
      handler: { type: 'command', command: ['true'], stdin: 'none' },
      input: null, steps: {}, workspace: join(d, 'ws'), signal: new AbortController().signal,
      killGraceMs: 200, retryOn: [], onHeartbeat: () => {}, log,
    };
    expect(await runner.run(request)).toMatchObject({ ok: true });
    await runner.close();
    expect((await registry.list()).map((r) => r.state)).toEqual(['handoff']);
    expect(log.lines.map((l) => l.msg)).toContain('settling a finished run failed; its registry row is left to the reaper');
    await registry.close();
  });
});
