import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { reapOrphans } from '../../src/actors/reaper.ts';
import { osProcessControl } from '../../src/pool/os-process-control.ts';
import { isAlive, isLiveStat, listPids, readProcStat } from '../../src/pool/proc.ts';
import { recordingLogger } from '../support/recording-logger.ts';
import { SqliteProcessRegistry } from '../../src/store/sqlite/process-registry.ts';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { project, startReeve } from '../support/cli.ts';
import { startTestNode, waitForState, type TestNode } from '../support/test-node.ts';

const proc = (name: string) => fileURLToPath(new URL(`../fixtures/procs/${name}`, import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Live processes whose environment carries this task's id (every process its runs started), with start times. */
function processesOfTask(taskId: string): Array<{ pid: number; starttime: number; comm: string }> {
  return listPids().flatMap((pid) => {
    const stat = readProcStat(pid);
    if (!stat || !isLiveStat(stat)) return [];
    try {
      return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`REEVE_TASK_ID=${taskId}`) ? [{ pid, starttime: stat.starttime, comm: stat.comm }] : [];
    } catch {
      return [];
    }
  });
}

/** Kills by pid + start time whatever a failed test left of a task's runs. */
function cleanUp(taskIds: readonly string[]): void {
  for (const p of taskIds.flatMap(processesOfTask)) {
    try {
      if (isAlive(p.pid, p.starttime)) process.kill(p.pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
  }
}

describe('a run whose root exits while its helpers live on (they ignore SIGTERM)', () => {
  let t: TestNode | undefined;
  const tasks: string[] = [];
  afterEach(async () => {
    await t?.dispose();
    t = undefined;
    cleanUp(tasks.splice(0));
  });

  it('ends with no process of the run left, in its group, in another group of its session or in a session of its own', async () => {
    t = await startTestNode({
      agents: {
        inGroup: { command: ['sh', proc('helpers-outlive-root.sh')] },
        leaveGroup: { command: ['bash', proc('helpers-leave-group.sh')] },
      },
    });
    const inGroup = (await t.node.store.submit({ kind: 'inGroup' })).task.id;
    const leaveGroup = (await t.node.store.submit({ kind: 'leaveGroup' })).task.id;
    tasks.push(inGroup, leaveGroup);
    await waitForState(t.node, inGroup, ['succeeded']);
    await waitForState(t.node, leaveGroup, ['succeeded']);
    // A run's row is cleared once nothing of the run is left (shortly after its outcome).
    const registry = new SqliteProcessRegistry(join(t.config.node.dataDir, 'processes.db'), { now: () => Date.now() });
    for (let i = 0; i < 250 && (await registry.list()).length > 0; i++) await sleep(20);
    expect(await registry.list()).toEqual([]);
    await registry.close();
    expect(processesOfTask(inGroup)).toEqual([]);
    expect(processesOfTask(leaveGroup)).toEqual([]);
  });
});

describe('a node killed with SIGKILL, after which the run\'s root exits and leaves its helpers', () => {
  let p: { dir: string; remove(): void } | undefined;
  const tasks: string[] = [];
  const nodes: Array<ReturnType<typeof startReeve>> = [];
  afterEach(async () => {
    for (const node of nodes.splice(0)) {
      if (node.exitCode === null && node.signalCode === null) node.kill('SIGKILL');
      await node.exited;
    }
    cleanUp(tasks.splice(0));
    p?.remove();
  });

  it('kills the helpers in the start-up reap of the restarted node, and the task runs again', async () => {
    p = project({ node: { pollIntervalMs: 50 }, agents: { helpers: { command: ['sh', proc('helpers-outlive-root.sh'), '{{input.release}}'] } } });
    const release = join(p.dir, 'release');
    execFileSync('mkfifo', [release]);
    const store = openSqliteTaskStore({ path: join(p.dir, '.reeve', 'reeve.db') });
    const { task } = await store.submit({ kind: 'helpers', input: { release } });
    tasks.push(task.id);
    try {
      const first = startReeve(p.dir);
      nodes.push(first);
      // root sh, the subshell and three sleeps
      for (let i = 0; i < 500 && processesOfTask(task.id).length < 5; i++) await sleep(20);
      const tree = processesOfTask(task.id);
      expect(tree).toHaveLength(5);
      first.kill('SIGKILL');
      await first.exited;

      // The root exits once its node is gone (as a CLI does on a broken stdout); its helpers do not.
      writeFileSync(release, 'go\n');
      rmSync(release); // the next run finds no FIFO and exits at once, leaving its helpers
      for (let i = 0; i < 250 && processesOfTask(task.id).length > 4; i++) await sleep(20);
      const orphans = processesOfTask(task.id);
      expect(orphans).toHaveLength(4);

      const second = startReeve(p.dir);
      nodes.push(second);
      for (let i = 0; i < 500 && (await store.get(task.id))?.state !== 'succeeded'; i++) await sleep(20);
      second.kill('SIGTERM');
      await second.exited;
      expect(await store.get(task.id)).toMatchObject({ state: 'succeeded', attempts: { crashes: 1 } });
      expect(orphans.filter((o) => isAlive(o.pid, o.starttime))).toEqual([]);
      expect(processesOfTask(task.id)).toEqual([]);
      expect(second.stderrText()).toContain('reaped an orphaned process tree');
    } finally {
      await store.close();
      rmSync(release, { force: true });
    }
  });
});

describe('a handoff left by an earlier attempt of a task that then succeeds', () => {
  let p: { dir: string; remove(): void } | undefined;
  let helper: { pid: number; starttime: number } | undefined;
  afterEach(() => {
    if (helper && isAlive(helper.pid, helper.starttime)) process.kill(helper.pid, 'SIGKILL');
    p?.remove();
  });

  it('stays until the reaper has killed its processes: the success does not delete it', async () => {
    // The helper of the earlier attempt, carrying its run's marker.
    const child = spawn('sleep', ['300'], { detached: true, stdio: 'ignore', env: { REEVE_RUN_ID: 'earlier-attempt' } });
    helper = { pid: child.pid!, starttime: readProcStat(child.pid!)!.starttime };
    child.unref();
    // Protected while the node runs, so that its start-up reap leaves the handoff in place.
    p = project({ node: { pollIntervalMs: 50, protectedPids: [helper.pid] }, agents: { ok: { command: ['true'] } } });
    const store = openSqliteTaskStore({ path: join(p.dir, '.reeve', 'reeve.db') });
    const { task } = await store.submit({ kind: 'ok' });
    const dbPath = join(p.dir, '.reeve', 'processes.db');
    const seed = new SqliteProcessRegistry(dbPath, { now: () => Date.now() });
    await seed.recordIntent({ runId: 'earlier-attempt', taskId: task.id, nodeId: 'n', incarnation: 'gone', command: 'sleep 300' });
    await seed.recordSpawned('earlier-attempt', { pid: helper.pid, pgid: helper.pid, sid: helper.pid, starttime: helper.starttime });
    await seed.markHandoff('earlier-attempt');
    await seed.close();
    try {
      const node = startReeve(p.dir);
      for (let i = 0; i < 500 && (await store.get(task.id))?.state !== 'succeeded'; i++) await sleep(20);
      node.kill('SIGTERM');
      await node.exited;
      expect(await store.get(task.id)).toMatchObject({ state: 'succeeded' });
    } finally {
      await store.close();
    }
    // The next pass (here `reeve reap`'s, without the protection) still finds the handoff and kills it.
    const registry = new SqliteProcessRegistry(dbPath, { now: () => Date.now() });
    expect((await registry.list()).map((r) => r.runId)).toEqual(['earlier-attempt']);
    const report = await reapOrphans({ registry, control: osProcessControl({ protectedPids: [] }), liveOwners: new Set(), protectedPids: new Set(), graceMs: 500, log: recordingLogger() });
    await registry.close();
    expect(report.reaped).toBe(1);
    expect(isAlive(helper.pid, helper.starttime)).toBe(false);
  });
});
