import { describe, expect, it } from 'vitest';
import { openReeveClient, parseConfig } from '../../src/index.ts';
import { natsServerForSuite } from '../support/nats-server.ts';
import { fixtureAgent, startTestNode } from '../support/test-node.ts';

/** The TypeScript client API: the same submit path as `reeve submit`, in both modes. */
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
      const done = await client.run({ id: 'api-1', kind: 'echo', input: { n: 1 } });
      expect(done).toMatchObject({ id: 'api-1', state: 'succeeded', result: { echo: { n: 1 } } });
      // The same id again: the server's dedup window drops it, nothing runs twice.
      expect(await client.submit({ id: 'api-1', kind: 'echo', input: { n: 1 } })).toEqual({ id: 'api-1', created: false });
      expect((await client.waitFor('api-1')).history.filter((h) => h.to === 'running')).toHaveLength(1);
    } finally {
      await client.close();
      await t.dispose();
    }
  }, 60_000);

  it('writes to the SQLite store in embedded mode', async () => {
    const t = await startTestNode({ agents: { echo: { module: fixtureAgent('echo.ts') } } });
    const client = await openReeveClient(t.config);
    try {
      expect(client.mode).toBe('embedded');
      const submitted = await client.submit({ kind: 'echo', input: 'hi' });
      expect(submitted).toMatchObject({ created: true, state: 'queued' });
      t.node.dispatcher.wake();
      expect((await client.waitFor(submitted.id)).state).toBe('succeeded');
    } finally {
      await client.close();
      await t.dispose();
    }
  }, 60_000);
});
