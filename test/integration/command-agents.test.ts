import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { isLiveStat, listPids, readProcStat } from '../../src/pool/proc.ts';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { SqliteProcessRegistry } from '../../src/store/sqlite/process-registry.ts';
import { project, startReeve } from '../support/cli.ts';
import { startTestNode, waitForState, type TestNode } from '../support/test-node.ts';

const proc = (name: string) => fileURLToPath(new URL(`../fixtures/procs/${name}`, import.meta.url));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Live processes whose environment carries this task's id (every process a run started). */
function processesOfTask(taskId: string): number[] {
  return listPids().filter((pid) => {
    const stat = readProcStat(pid);
    if (!stat || !isLiveStat(stat)) return false;
    try {
      return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`REEVE_TASK_ID=${taskId}`);
    } catch {
      return false;
    }
  });
}

describe('command agents and process control', () => {
  let t: TestNode | undefined;
  afterEach(async () => {
    await t?.dispose();
    t = undefined;
  });

  it('leaves zero survivors after a timeout, a cancel and a drain, and clears the registry', async () => {
    t = await startTestNode({
      node: { drainTimeoutMs: 100 },
      agents: {
        slow: { command: ['sh', proc('forks-grandchild.sh')], timeoutMs: 400, killGraceMs: 500, retry: { permanent: { maxAttempts: 1 } } },
        stubborn: { command: ['sh', proc('child-ignores-term.sh')], killGraceMs: 300 },
      },
    });
    const timedOut = (await t.node.store.submit({ kind: 'slow' })).task.id;
    const cancelled = (await t.node.store.submit({ kind: 'stubborn' })).task.id;
    const drained = (await t.node.store.submit({ kind: 'stubborn' })).task.id;
    expect((await waitForState(t.node, timedOut, ['failed'])).error).toMatchObject({ class: 'timeout' });
    expect(processesOfTask(timedOut)).toEqual([]);

    await waitForState(t.node, cancelled, ['running']);
    for (let i = 0; i < 100 && processesOfTask(cancelled).length < 2; i++) await sleep(20);
    expect(processesOfTask(cancelled).length).toBeGreaterThan(0);
    await t.node.store.requestCancel(cancelled, 'operator');
    await waitForState(t.node, cancelled, ['cancelled']);
    expect(processesOfTask(cancelled)).toEqual([]);

    await waitForState(t.node, drained, ['running']);
    for (let i = 0; i < 100 && processesOfTask(drained).length < 2; i++) await sleep(20);
    const { config } = t;
    await t.node.drain(100);
    await t.node.done;
    expect(processesOfTask(drained)).toEqual([]);
    const registry = new SqliteProcessRegistry(join(config.node.dataDir, 'processes.db'), { now: () => Date.now() });
    expect(await registry.list()).toEqual([]);
    await registry.close();
    const store = openSqliteTaskStore({ path: config.store.path });
    expect(await store.get(drained)).toMatchObject({ state: 'queued', attempts: { transient: 0, permanent: 0 } });
    await store.close();
  });

  it('kills a run that is silent and idle, but not one that is silent and busy (idleTimeoutMs)', async () => {
    t = await startTestNode({
      agents: {
        wedged: { command: ['sleep', '30'], idleTimeoutMs: 400, killGraceMs: 200, retry: { permanent: { maxAttempts: 1 } } },
        thinking: { command: ['sh', '-c', 'i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done; echo \'{"thought":true}\''], idleTimeoutMs: 400 },
      },
    });
    const wedged = (await t.node.store.submit({ kind: 'wedged' })).task.id;
    const thinking = (await t.node.store.submit({ kind: 'thinking' })).task.id;
    expect((await waitForState(t.node, wedged, ['failed'])).error).toMatchObject({ class: 'timeout', message: expect.stringMatching(/idleTimeoutMs/) });
    const done = await waitForState(t.node, thinking, ['succeeded', 'failed'], 30_000);
    expect(done).toMatchObject({ state: 'succeeded', result: { thought: true } });
    expect(done.history.filter((h) => h.to === 'running')).toHaveLength(1);
  });

  it('redacts configured secrets from run logs', async () => {
    t = await startTestNode({
      secrets: ['s3cr3t-value'],
      agents: { talk: { command: ['sh', '-c', 'echo "token is s3cr3t-value"; echo \'{"done":true}\''] } },
    });
    const id = (await t.node.store.submit({ kind: 'talk' })).task.id;
    expect((await waitForState(t.node, id, ['succeeded'])).result).toEqual({ done: true });
    const dir = join(t.config.node.dataDir, 'logs');
    const text = readdirSync(dir).map((f) => readFileSync(join(dir, f), 'utf8')).join('\n');
    expect(text).toContain('token is [redacted]');
    expect(text).not.toContain('s3cr3t-value');
  });
});

describe('a node killed with SIGKILL while a command agent runs', () => {
  let p: { dir: string; remove(): void } | undefined;
  afterEach(() => p?.remove());

  it('reaps the orphaned tree on restart and runs the task again', async () => {
    const marker = join('/tmp', `reeve-reap-${process.pid}-${Date.now()}`);
    p = project({
      node: { pollIntervalMs: 50 },
      agents: {
        job: { command: ['sh', '-c', `if [ -e ${marker} ]; then echo '{"second":true}'; else touch ${marker}; sh ${proc('forks-grandchild.sh')}; fi`] },
      },
    });
    const store = openSqliteTaskStore({ path: join(p.dir, '.reeve', 'reeve.db') });
    const { task } = await store.submit({ kind: 'job' });
    try {
      const first = startReeve(p.dir);
      for (let i = 0; i < 300 && processesOfTask(task.id).length < 3; i++) await sleep(20);
      const orphans = processesOfTask(task.id);
      expect(orphans.length).toBeGreaterThanOrEqual(2);
      first.kill('SIGKILL');
      await first.exited;
      expect(processesOfTask(task.id).length).toBeGreaterThan(0); // the tree outlived its node

      const second = startReeve(p.dir);
      for (let i = 0; i < 500 && (await store.get(task.id))?.state !== 'succeeded'; i++) await sleep(20);
      second.kill('SIGTERM');
      await second.exited;
      expect(await store.get(task.id)).toMatchObject({ state: 'succeeded', result: { second: true }, attempts: { crashes: 1 } });
      expect(orphans.filter((pid) => readProcStat(pid) !== undefined && isLiveStat(readProcStat(pid)!))).toEqual([]);
      expect(second.stderrText()).toContain('reaped an orphaned process tree');
    } finally {
      await store.close();
      for (const pid of processesOfTask(task.id)) process.kill(pid, 'SIGKILL');
      rmSync(marker, { force: true });
    }
  });
});
