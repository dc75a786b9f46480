import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { breakerEventSchema } from '../../src/protocol/messages.ts';
import { startNatsServer, type NatsServer } from '../support/nats-server.ts';
import { fixtureAgent, startTestNode, waitForState, type TestNode } from '../support/test-node.ts';
import { tempDir } from '../support/temp-dir.ts';
import { until } from '../support/cluster.ts';

/**
 * Two nodes (in this process, each with its own NATS connection) sharing breakers through the
 * KV bucket: a breaker opened by one node stops claims on both, and its half-open probe is one
 * per cluster.
 */
let server: NatsServer;
let observer: NatsConnection;

beforeAll(async () => {
  server = await startNatsServer();
  observer = await connect({ servers: server.url });
}, 30_000);

afterAll(async () => {
  await observer?.close();
  await server?.stop();
});

const attempts = (dir: string) => {
  try {
    return readFileSync(join(dir, 'attempts.log'), 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

describe('breakers shared over NATS', () => {
  it('stops claims for an open key on every node and lets exactly one probe through per cluster', async () => {
    const work = tempDir('reeve-breaker-');
    const events: Array<{ state: string; node: string }> = [];
    const sub = observer.subscribe('brk.breaker.*', {
      callback: (_err, m) => {
        const parsed = breakerEventSchema.safeParse(m.json());
        expect(parsed.success, m.string()).toBe(true);
        if (parsed.success) events.push(parsed.data);
      },
    });
    const nodes: TestNode[] = [];
    try {
      const config = (id: string) => ({
        node: { id, concurrency: 4, leaseTtlMs: 5000 },
        store: { type: 'nats', bucket: 'brk-tasks' },
        nats: { servers: [server.url], prefix: 'brk', stream: 'BRK_SUBMIT' },
        agents: {
          call: {
            module: fixtureAgent('held-provider.ts'),
            breaker: { threshold: 2, pauseMs: 2000 },
            retry: { transient: { maxAttempts: 50, baseMs: 50, maxMs: 100 } },
          },
        },
      });
      nodes.push(await startTestNode(config('brk-a')), await startTestNode(config('brk-b')));
      const [a, b] = nodes as [TestNode, TestNode];
      const input = { dir: work.path };
      // Two failures open the breaker (threshold 2).
      await a.node.store.submit({ id: 'first-1', kind: 'call', input });
      await b.node.store.submit({ id: 'first-2', kind: 'call', input });
      await until(() => events, (e) => e.some((x) => x.state === 'open'), 20_000, (e) => JSON.stringify(e));
      // A run claimed just before the breaker opened may still be going: let it end first, so the
      // one attempt counted below is the probe (and the hold below catches only the probe).
      await until(() => a.node.store.query({ state: 'running' }), (running) => running.length === 0, 20_000, (r) => r.map((t) => t.id).join(','));
      const opened = attempts(work.path).length;
      writeFileSync(join(work.path, 'hold'), '');
      for (let i = 0; i < 6; i++) await (i % 2 ? a : b).node.store.submit({ id: `later-${i}`, kind: 'call', input });

      // While it is open, neither node claims the key. The pause then admits one probe, held
      // by the provider; both nodes keep polling meanwhile and must not start a second one.
      const probe = await until(() => attempts(work.path), (lines) => lines.length > opened, 20_000, (l) => l.join(','));
      expect(probe.length).toBe(opened + 1);
      await sleep(2_500);
      expect(attempts(work.path).length).toBe(opened + 1);
      expect(events.filter((e) => e.state === 'halfOpen').length).toBe(1);
      const [record] = await a.node.store.listBreakers();
      expect(record?.state).toBe('halfOpen');

      // The provider recovers: the probe succeeds, the breaker closes and every task completes.
      writeFileSync(join(work.path, 'provider-up'), '');
      writeFileSync(join(work.path, 'release'), '');
      for (const id of ['first-1', 'first-2', ...Array.from({ length: 6 }, (_, i) => `later-${i}`)]) await waitForState(a.node, id, ['succeeded'], 30_000);
      await until(() => events, (e) => e.at(-1)?.state === 'closed', 10_000, (e) => JSON.stringify(e));
    } finally {
      sub.unsubscribe();
      for (const n of nodes) await n.dispose();
      work.remove();
    }
  }, 90_000);
});
