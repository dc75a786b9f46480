import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rejectedEventSchema } from '../../src/protocol/messages.ts';
import { clusterProject, collect, observe, runsByTask, stopNodes, until, untilNodesUp, type NodeProcess, type Observer } from '../support/cluster.ts';
import { natsServerForSuite } from '../support/nats-server.ts';
import { fixtureAgent } from '../support/test-node.ts';

/**
 * A cluster whose nodes run different agents (separate `reeve start` processes with their own
 * configs, one NATS): a node that pulls a submission of a kind only another node runs stores it
 * for that node instead of rejecting it.
 */
const nats = natsServerForSuite();

describe('nodes with different agents', () => {
  it('runs each kind on a node that has it, whichever node pulled it, and rejects a kind no node runs', async () => {
    const bucket = 'mixed-tasks';
    const common = { servers: [nats.url], bucket, nats: { prefix: 'mx', stream: 'MX_SUBMIT' }, node: { concurrency: 4 } };
    const alphaOnly = clusterProject({ ...common, agents: { alpha: { module: fixtureAgent('records-run.ts') } } });
    const betaOnly = clusterProject({ ...common, agents: { beta: { module: fixtureAgent('records-run.ts') } } });
    let observer: Observer | undefined;
    const nodes: NodeProcess[] = [];
    try {
      nodes.push(alphaOnly.start('node-a'), betaOnly.start('node-b'));
      await untilNodesUp(alphaOnly, ['node-a', 'node-b'], 40_000, nodes);
      observer = await observe([nats.url], bucket);
      const rejected = collect(observer.nc, 'mx.events.rejected');
      await observer.nc.flush();
      // Both nodes have heard each other's heartbeats once each has been up 3 s.
      await new Promise((resolve) => setTimeout(resolve, 3_500));

      const log = join(alphaOnly.dir, 'runs.log');
      const ids: Array<{ id: string; kind: string }> = [];
      for (let i = 0; i < 40; i++) ids.push({ id: `mx-${i}`, kind: i % 2 ? 'alpha' : 'beta' });
      await Promise.all(ids.map(({ id, kind }) => observer!.js.publish('mx.submit', JSON.stringify({ id, kind, input: { log, ms: 20 } }), { msgID: id })));
      await observer.js.publish('mx.submit', JSON.stringify({ id: 'mx-nobody', kind: 'gamma' }), { msgID: 'mx-nobody' });

      await until(() => observer!.store.countByState(), (c) => (c.succeeded ?? 0) >= ids.length, 60_000, (c) => JSON.stringify(c));
      const runs = runsByTask(log);
      for (const { id, kind } of ids) expect(runs.get(id), id).toEqual([kind === 'alpha' ? 'node-a' : 'node-b']);

      const nobody = await until(
        () => rejected.messages.map((m) => rejectedEventSchema.parse(m)).find((m) => m.id === 'mx-nobody'),
        (m) => m !== undefined,
        20_000,
        () => 'no rejection for mx-nobody',
      );
      expect(nobody).toMatchObject({ code: 'UNKNOWN_KIND', reason: expect.stringMatching(/"gamma".*alpha, beta/) });
      expect(await observer.store.get('mx-nobody')).toBeUndefined();
      expect(await stopNodes(nodes.splice(0))).toEqual([0, 0]);
    } finally {
      await stopNodes(nodes);
      await observer?.close().catch(() => undefined);
      alphaOnly.remove();
      betaOnly.remove();
    }
  }, 120_000);
});
