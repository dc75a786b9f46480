import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isTerminal } from '../../src/protocol/task-states.ts';
import { clusterProject, observe, runsByTask, until, type Observer } from '../support/cluster.ts';
import { natsServerForSuite } from '../support/nats-server.ts';
import { fixtureAgent } from '../support/test-node.ts';

/**
 * Reeve nodes as separate OS processes (`reeve start`, store.type "nats") sharing one real
 * nats-server: submissions published on JetStream by the test as any publisher would.
 */
const nats = natsServerForSuite();

async function publishWithDuplicates(observer: Observer, subject: string, count: number, log: string, prefix: string) {
  const ids: string[] = [];
  const publishes: Array<Promise<unknown>> = [];
  for (let i = 0; i < count; i++) {
    const id = `${prefix}-${i}`;
    ids.push(id);
    const body = JSON.stringify({ id, kind: 'record', input: { log } });
    publishes.push(observer.js.publish(subject, body, { msgID: id }));
    if (i % 10 === 0) {
      // 10 % duplicates: half caught by the server's dedup window (same Nats-Msg-Id), half sent
      // as plain core-NATS publishes without the header, which only the store can catch.
      if (i % 20 === 0) publishes.push(observer.js.publish(subject, body, { msgID: id }));
      else observer.nc.publish(subject, body);
    }
  }
  await Promise.all(publishes);
  return ids;
}

describe.each([2, 3])('%i Reeve nodes on one NATS', (nodeCount) => {
  it('runs 1,000 published tasks (10 % duplicate ids) exactly once each, spread over the nodes', async () => {
    const bucket = `tasks-${nodeCount}`;
    const cluster = clusterProject({
      servers: [nats.url],
      bucket,
      // Each test has its own subjects and stream: a work-queue subject belongs to one stream.
      nats: { prefix: `r${nodeCount}`, stream: `SUBMIT_${nodeCount}` },
      node: { concurrency: 16 },
      agents: { record: { module: fixtureAgent('records-run.ts') } },
    });
    const observer = await observe([nats.url], bucket);
    const nodes = Array.from({ length: nodeCount }, (_, i) => cluster.start(`node-${i}`));
    try {
      const log = join(cluster.dir, 'runs.log');
      // The stream is created by the first node: publish once every node is up.
      await until(async () => (await cluster.cli(['status', '--json'])).stdout, (out) => (JSON.parse(out || '{"nodes":[]}') as { nodes: unknown[] }).nodes.length === nodeCount, 30_000, (out) => `nodes not up: ${out}`);
      const ids = await publishWithDuplicates(observer, `r${nodeCount}.submit`, 1000, log, `t${nodeCount}`);
      const counts = await until(() => observer.store.countByState(), (c) => (c.succeeded ?? 0) >= ids.length, 90_000, (c) => JSON.stringify(c));
      expect(counts).toEqual({ succeeded: 1000 });
      for (const id of ids) expect(isTerminal((await observer.store.get(id))!.state)).toBe(true);
      const runs = runsByTask(log);
      expect(runs.size).toBe(1000);
      const twice = [...runs].filter(([, by]) => by.length !== 1);
      expect(twice).toEqual([]);
      const perNode = new Map<string, number>();
      for (const [, [node]] of runs) perNode.set(node!, (perNode.get(node!) ?? 0) + 1);
      expect(perNode.size).toBe(nodeCount);
      // `reeve status` takes the counts from a live node's beacon (it counts its index) instead of reading every task.
      const status = await until(
        async () => JSON.parse((await cluster.cli(['status', '--json'])).stdout || '{}') as { counts?: Record<string, number>; countsFrom?: { node: string } },
        (r) => r.counts?.succeeded === 1000,
        10_000,
        (r) => JSON.stringify(r),
      );
      expect(status.counts).toEqual({ succeeded: 1000 });
      expect(status.countsFrom?.node).toMatch(/^node-\d$/);
      expect(JSON.parse((await cluster.cli(['status', '--json', '--exact'])).stdout)).toMatchObject({ counts: { succeeded: 1000 } });
    } finally {
      for (const node of nodes) node.kill('SIGTERM');
      await Promise.all(nodes.map((n) => n.exited));
      await observer.close();
      cluster.remove();
    }
  }, 150_000);
});
