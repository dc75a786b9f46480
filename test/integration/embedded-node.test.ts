import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fixtureAgent, startTestNode, waitForState, type TestNode } from '../support/test-node.ts';

describe('embedded node', () => {
  let t: TestNode | undefined;
  afterEach(async () => {
    await t?.dispose();
    t = undefined;
  });

  it('runs module agents to succeeded with their results', async () => {
    t = await startTestNode({ agents: { echo: { module: fixtureAgent('echo.ts') } } });
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => t!.node.store.submit({ kind: 'echo', input: { i } }).then((r) => r.task.id)));
    for (const [i, id] of ids.entries()) {
      const task = await waitForState(t.node, id, ['succeeded']);
      expect(task.result).toMatchObject({ echo: { i } });
      expect(task.owner).toBeUndefined();
    }
  });

  it('retries a transient failure with backoff and gives up after the permanent budget, each counted apart', async () => {
    t = await startTestNode({
      agents: {
        flaky: { module: fixtureAgent('throws-transient.ts'), retry: { transient: { maxAttempts: 2, baseMs: 1, maxMs: 5 } }, maxRetryAfterMs: 10 },
        broken: { module: fixtureAgent('fails-permanently.ts'), retry: { permanent: { maxAttempts: 2, baseMs: 1, maxMs: 5 } } },
      },
    });
    const flaky = (await t.node.store.submit({ kind: 'flaky' })).task.id;
    const broken = (await t.node.store.submit({ kind: 'broken' })).task.id;
    const f = await waitForState(t.node, flaky, ['failed']);
    expect(f.attempts).toEqual({ transient: 2, permanent: 0, crashes: 0 });
    expect(f.history.map((h) => h.to)).toEqual(['queued', 'running', 'backoff', 'running', 'failed']);
    const b = await waitForState(t.node, broken, ['failed']);
    expect(b.attempts).toEqual({ transient: 0, permanent: 2, crashes: 0 });
    expect(b.error).toMatchObject({ class: 'permanent', message: 'bad input (simulated)' });
  });

  it('records a hung, exiting or non-JSON agent as a failed attempt and keeps running other tasks', async () => {
    const once = { retry: { permanent: { maxAttempts: 1 } } };
    t = await startTestNode({
      agents: {
        hang: { module: fixtureAgent('spins.ts'), timeoutMs: 300, killGraceMs: 50, ...once },
        exit: { module: fixtureAgent('exits.ts'), ...once },
        map: { module: fixtureAgent('returns-map.ts'), ...once },
        echo: { module: fixtureAgent('echo.ts') },
      },
    });
    const submit = async (kind: string) => (await t!.node.store.submit({ kind })).task.id;
    const [hang, exit, map, echo] = await Promise.all(['hang', 'exit', 'map', 'echo'].map(submit));
    expect((await waitForState(t.node, hang!, ['failed'])).error).toMatchObject({ class: 'timeout', code: 'RUN_TIMED_OUT' });
    expect((await waitForState(t.node, exit!, ['failed'])).error).toMatchObject({ code: 'AGENT_EXITED' });
    expect((await waitForState(t.node, map!, ['failed'])).error).toMatchObject({ code: 'RESULT_NOT_JSON' });
    await waitForState(t.node, echo!, ['succeeded']);
  });

  it('runs the compensations of completed steps in reverse order when a pipeline fails', async () => {
    t = await startTestNode({
      agents: {
        ship: {
          steps: [
            { name: 'branch', run: { module: fixtureAgent('echo.ts') }, compensate: { module: fixtureAgent('undo.ts') } },
            { name: 'build', run: { module: fixtureAgent('echo.ts') } },
            { name: 'push', run: { module: fixtureAgent('echo.ts') }, compensate: { module: fixtureAgent('undo.ts') } },
            { name: 'review', run: { module: fixtureAgent('fails-permanently.ts') } },
          ],
          retry: { permanent: { maxAttempts: 1 } },
          keepWorkspace: true,
        },
      },
    });
    const id = (await t.node.store.submit({ kind: 'ship' })).task.id;
    const task = await waitForState(t.node, id, ['failed', 'quarantined']);
    expect(task.state).toBe('failed');
    expect(task.compensations.map((c) => [c.step, c.status])).toEqual([['push', 'done'], ['branch', 'done']]);
    const order = await readFile(join(t.config.node.dataDir, 'workspaces', id, 'compensated'), 'utf8');
    expect(order).toBe('push\nbranch\n');
  });

  it('quarantines a pipeline whose compensation fails', async () => {
    t = await startTestNode({
      agents: {
        ship: {
          steps: [
            { name: 'branch', run: { module: fixtureAgent('echo.ts') }, compensate: { module: fixtureAgent('undo-fails.ts') } },
            { name: 'review', run: { module: fixtureAgent('fails-permanently.ts') } },
          ],
          retry: { permanent: { maxAttempts: 1 } },
        },
      },
    });
    const id = (await t.node.store.submit({ kind: 'ship' })).task.id;
    const task = await waitForState(t.node, id, ['quarantined', 'failed']);
    expect(task).toMatchObject({ state: 'quarantined', compensations: [{ step: 'branch', status: 'failed' }], error: { code: 'COMPENSATION_FAILED' } });
  });

  it('cancels a running task: the run is stopped, compensations run, the task ends cancelled', { timeout: 60_000 }, async () => {
    t = await startTestNode({
      agents: {
        job: {
          steps: [
            { name: 'branch', run: { module: fixtureAgent('echo.ts') }, compensate: { module: fixtureAgent('undo.ts') } },
            { name: 'work', run: { module: fixtureAgent('waits-for-abort.ts') } },
          ],
        },
      },
    });
    const id = (await t.node.store.submit({ kind: 'job' })).task.id;
    await waitForState(t.node, id, ['running']);
    for (const deadline = Date.now() + 30_000; Date.now() < deadline && (await t.node.store.get(id))?.step !== 'work';) await new Promise((r) => setTimeout(r, 20));
    expect((await t.node.store.get(id))?.step).toBe('work');
    await t.node.store.requestCancel(id, 'not needed any more');
    const task = await waitForState(t.node, id, ['cancelled']);
    expect(task.compensations).toMatchObject([{ step: 'branch', status: 'done' }]);
    expect(task.attempts).toEqual({ transient: 0, permanent: 0, crashes: 0 });
    expect(task.history.map((h) => h.to)).toContain('cancelling');
  });

  it('cancels a task that ran and now waits in backoff: its compensations run and it ends cancelled', async () => {
    t = await startTestNode({
      agents: {
        job: {
          steps: [
            { name: 'branch', run: { module: fixtureAgent('echo.ts') }, compensate: { module: fixtureAgent('undo.ts') } },
            { name: 'call', run: { module: fixtureAgent('throws-transient.ts') } },
          ],
          retry: { transient: { maxAttempts: 50, baseMs: 60_000, maxMs: 60_000 } },
          maxRetryAfterMs: 60_000,
        },
      },
    });
    const id = (await t.node.store.submit({ kind: 'job' })).task.id;
    await waitForState(t.node, id, ['backoff']);
    expect((await t.node.store.requestCancel(id, 'give up')).state).toBe('cancelling');
    const task = await waitForState(t.node, id, ['cancelled', 'quarantined']);
    expect(task).toMatchObject({ state: 'cancelled', compensations: [{ step: 'branch', status: 'done' }] });
  });

  it('records a failure whose message is very long, cut to fit, instead of crashing the saga', async () => {
    t = await startTestNode({ agents: { long: { module: fixtureAgent('throws-long.ts'), retry: { permanent: { maxAttempts: 1 } } } } });
    const id = (await t.node.store.submit({ kind: 'long' })).task.id;
    const task = await waitForState(t.node, id, ['failed']);
    expect(task.error?.message.length).toBeGreaterThan(2000);
    expect(task.history.at(-1)!.reason.length).toBeLessThanOrEqual(2000);
  });

  it('does not interrupt a compensation when a cancel arrives during it', async () => {
    t = await startTestNode({
      agents: {
        ship: {
          steps: [
            { name: 'branch', run: { module: fixtureAgent('echo.ts') }, compensate: { module: fixtureAgent('slow-undo.ts') } },
            { name: 'review', run: { module: fixtureAgent('fails-permanently.ts') } },
          ],
          retry: { permanent: { maxAttempts: 1 } },
          keepWorkspace: true,
        },
      },
    });
    const id = (await t.node.store.submit({ kind: 'ship' })).task.id;
    await waitForState(t.node, id, ['compensating']);
    await t.node.store.requestCancel(id, 'late cancel');
    const task = await waitForState(t.node, id, ['failed', 'quarantined', 'cancelled']);
    expect(task).toMatchObject({ state: 'failed', compensations: [{ step: 'branch', status: 'done' }] });
    const log = await readFile(join(t.config.node.dataDir, 'workspaces', id, 'compensated'), 'utf8');
    expect(log).toBe('branch aborted=false\n');
  });

  it('removes a task’s workspace when it ends, unless the kind keeps it', async () => {
    t = await startTestNode({
      agents: {
        tidy: { module: fixtureAgent('branch-in-workspace.ts') },
        keep: { module: fixtureAgent('branch-in-workspace.ts'), keepWorkspace: true },
      },
    });
    const tidy = (await t.node.store.submit({ kind: 'tidy' })).task.id;
    const keep = (await t.node.store.submit({ kind: 'keep' })).task.id;
    await waitForState(t.node, tidy, ['succeeded']);
    await waitForState(t.node, keep, ['succeeded']);
    const dir = (id: string) => join(t!.config.node.dataDir, 'workspaces', id);
    for (let i = 0; i < 150 && existsSync(dir(tidy)); i++) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(dir(tidy))).toBe(false);
    expect(existsSync(join(dir(keep), 'branch'))).toBe(true);
  });

  it('waits for approval and continues with the next step once approved', async () => {
    t = await startTestNode({
      agents: { gated: { steps: [{ name: 'draft', run: { module: fixtureAgent('routes.ts') } }, { name: 'publish', run: { module: fixtureAgent('echo.ts') } }] } },
    });
    const { decideWaitingTask } = await import('../../src/actors/operator.ts');
    const id = (await t.node.store.submit({ kind: 'gated', input: {} })).task.id;
    await waitForState(t.node, id, ['waiting']);
    await decideWaitingTask(t.node.store, { now: () => Date.now() }, id, { type: 'task.approve', by: 'ana' });
    const task = await waitForState(t.node, id, ['succeeded']);
    expect(task.result).toMatchObject({ step: 'publish' });
  });

  it('hands in-flight work back on drain without charging an attempt', async () => {
    t = await startTestNode({ agents: { wait: { module: fixtureAgent('waits-for-abort.ts') } } });
    const id = (await t.node.store.submit({ kind: 'wait' })).task.id;
    await waitForState(t.node, id, ['running']);
    await t.node.drain(100);
    expect(await t.node.done).toBe(0);
    const { openSqliteTaskStore } = await import('../../src/store/sqlite/sqlite-task-store.ts');
    const store = openSqliteTaskStore({ path: t.config.store.path! });
    const task = await store.get(id);
    await store.close();
    expect(task).toMatchObject({ state: 'queued', attempts: { transient: 0, permanent: 0, crashes: 0 } });
    expect(task?.owner).toBeUndefined();
  });
});
