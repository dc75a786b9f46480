import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openReeveClient, parseConfig, type TaskChange } from '../../src/index.ts';
import { natsServerForSuite } from '../support/nats-server.ts';
import { fixtureAgent, startTestNode, waitForState } from '../support/test-node.ts';

/** The TypeScript client API: the same paths as the CLI, in both modes. */
const nats = natsServerForSuite();

describe('openReeveClient', () => {
  it('submits over JetStream in cluster mode and follows the task to its end', async () => {
    const raw = {
      store: { type: 'nats', bucket: 'api-tasks' },
      nats: { servers: [nats.url], prefix: 'api', stream: 'API_SUBMIT' },
      agents: { echo: { module: fixtureAgent('echo.ts') } },
    };
    const t = await startTestNode({ ...raw, node: { id: 'api-node' } });
    const client = await openReeveClient(parseConfig(raw, { baseDir: t.dir }));
    try {
      expect(client.mode).toBe('cluster');
      // Subscribed before it exists: a cluster wait waits for the intake to pull the task.
      const waiting = client.wait('api-1');
      expect(await client.submit({ id: 'api-1', kind: 'echo', input: { n: 1 } })).toEqual({ id: 'api-1', created: true });
      expect(await waiting).toMatchObject({ id: 'api-1', state: 'succeeded', result: { echo: { n: 1 } } });
      // The same id again: the server's dedup window drops it, nothing runs twice.
      expect(await client.submit({ id: 'api-1', kind: 'echo', input: { n: 1 } })).toEqual({ id: 'api-1', created: false });
      expect((await client.wait('api-1')).history.filter((h) => h.to === 'running')).toHaveLength(1);
      expect((await client.list({ kind: 'echo' })).map((r) => r.id)).toEqual(['api-1']);
    } finally {
      await client.close();
      await t.dispose();
    }
  }, 60_000);

  it('submits to the SQLite store in embedded mode; wait resolves with the final record and reports every change', async () => {
    const t = await startTestNode({ agents: { echo: { module: fixtureAgent('echo.ts') } } });
    const client = await openReeveClient(t.config);
    try {
      expect(client.mode).toBe('embedded');
      const submitted = await client.submit({ kind: 'echo', input: 'hi' });
      expect(submitted).toMatchObject({ created: true, state: 'queued' });
      t.node.dispatcher.wake();
      const changes: TaskChange[] = [];
      const done = await client.wait(submitted.id, { onChange: (c) => changes.push(c) });
      expect(done).toMatchObject({ id: submitted.id, state: 'succeeded', result: { echo: 'hi' } });
      expect(done).not.toHaveProperty('snapshot');
      expect(changes.map((c) => c.to)).toEqual(done.history.map((h) => h.to));
      expect(changes.at(-1)).toMatchObject({ id: submitted.id, to: 'succeeded' });
      const streamed: string[] = [];
      for await (const change of client.events(submitted.id)) streamed.push(change.to);
      expect(streamed).toEqual(done.history.map((h) => h.to));
      expect(await client.get(submitted.id)).toEqual(done);
      expect(await client.get('no-such-task')).toBeUndefined();
      expect((await client.list({ state: 'succeeded', limit: 5 })).map((r) => r.id)).toEqual([submitted.id]);
    } finally {
      await client.close();
      await t.dispose();
    }
  }, 60_000);

  it('approves and rejects waiting tasks, cancels and retries', async () => {
    const t = await startTestNode({
      agents: {
        gated: { steps: [{ name: 'draft', run: { module: fixtureAgent('routes.ts') } }, { name: 'publish', run: { module: fixtureAgent('echo.ts') } }] },
        slow: { module: fixtureAgent('waits-for-abort.ts') },
      },
    });
    const client = await openReeveClient(t.config);
    try {
      const a = await client.submit({ id: 'gate-a', kind: 'gated', input: {} });
      const b = await client.submit({ id: 'gate-b', kind: 'gated', input: {} });
      t.node.dispatcher.wake();
      await waitForState(t.node, a.id, ['waiting']);
      await waitForState(t.node, b.id, ['waiting']);
      await expect(client.approve(a.id, { goto: 'draft' } as never)).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('goto') });
      await expect(client.reject(a.id, 'x', { goto: 'deploy' })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('draft, publish') });
      expect(await client.approve(a.id, { by: 'ana', input: { tag: 'v1' }, reason: 'ok' })).toEqual({ id: a.id, state: 'queued' });
      t.node.dispatcher.wake();
      expect(await client.wait(a.id)).toMatchObject({ state: 'succeeded', steps: [{ name: 'draft', visits: 1 }, { name: 'publish', visits: 1 }] });
      await expect(client.reject(b.id, '')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      expect((await client.reject(b.id, 'not now')).id).toBe(b.id);
      expect((await client.wait(b.id)).state).toBe('failed');
      await expect(client.approve(b.id)).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
      expect(await client.retry(b.id)).toEqual({ id: b.id, state: 'queued' });

      const s = await client.submit({ kind: 'slow' });
      t.node.dispatcher.wake();
      await waitForState(t.node, s.id, ['running']);
      expect((await client.cancel(s.id, 'changed my mind')).id).toBe(s.id);
      expect((await client.wait(s.id)).state).toBe('cancelled');
    } finally {
      await client.close();
      await t.dispose();
    }
  }, 60_000);

  it('validates every call and answers with stable error codes', async () => {
    const t = await startTestNode({ agents: { echo: { module: fixtureAgent('echo.ts') } } });
    const client = await openReeveClient(t.config);
    try {
      await expect(client.submit({ kind: 'nope' })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('configured: echo') });
      await expect(client.submit({ kind: 'echo', priority: 'high' } as never)).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('priority') });
      await expect(client.get('')).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      await expect(client.list({ state: 'done' as never })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('state') });
      await expect(client.list({ limit: 0 })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('limit') });
      await expect(client.wait('missing-1')).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
      await expect(client.cancel('missing-1')).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
      await expect(client.approve('missing-1')).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
    } finally {
      await client.close();
      await t.dispose();
    }
    await expect(client.get('x')).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    await client.close();
  }, 60_000);

  it('finds reeve.config.json like the CLI, or takes a path or a defineConfig object', async () => {
    const t = await startTestNode({ agents: { echo: { module: fixtureAgent('echo.ts') } } });
    const raw = { store: { path: t.config.store.path }, agents: { echo: { module: fixtureAgent('echo.ts') } } };
    writeFileSync(join(t.dir, 'reeve.config.json'), JSON.stringify(raw));
    try {
      for (const config of [undefined, join(t.dir, 'reeve.config.json'), raw]) {
        const client = await openReeveClient(config, { cwd: t.dir, env: {} });
        expect((await client.submit({ kind: 'echo' })).created).toBe(true);
        await client.close();
      }
      await expect(openReeveClient({ agents: { x: { module: 42 } } } as never, { cwd: t.dir, env: {} })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
      await expect(openReeveClient(join(t.dir, 'missing.json'), { env: {} })).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    } finally {
      await t.dispose();
    }
  }, 60_000);
});
