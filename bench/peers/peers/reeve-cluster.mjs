/**
 * Reeve clustered: `nodes` × `reeve start` (separate OS processes) on one nats-server, every
 * state change in the KV bucket (the product default). Tasks are published first through the
 * public client (a JetStream publish each; a node started once before creates the stream), then the nodes start and drain the backlog;
 * figures from the records in KV: first `running` to last `succeeded`.
 */
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { sleep, spanRate, waitFor } from '../lib/common.mjs';
import { client, startEnd, startNode, submitAll, writeProject } from '../lib/reeve-proc.mjs';

async function records(c, ids) {
  const out = [];
  for (let i = 0; i < ids.length; i += 200) out.push(...(await Promise.all(ids.slice(i, i + 200).map((id) => c.get(id)))));
  return out;
}

/** Resolves once every id has a `succeeded` event; when events stall for 3 s, the KV record decides. */
async function allSucceeded(nc, c, prefix, ids, nodes, timeoutMs = 600_000) {
  const want = new Set(ids);
  const sub = nc.subscribe(`${prefix}.events.task.*`, {
    callback: (_e, m) => {
      if (m.string().includes('"state":"succeeded"')) want.delete(m.subject.slice(m.subject.lastIndexOf('.') + 1));
    },
  });
  try {
    const until = Date.now() + timeoutMs;
    let last = -1;
    while (want.size > 0) {
      for (const n of nodes) n.check();
      if (Date.now() > until) throw new Error(`timed out: ${ids.length - want.size} of ${ids.length} succeeded`);
      await sleep(3000);
      if (want.size === last) {
        for (const r of await records(c, [...want])) if (r?.state === 'succeeded') want.delete(r.id);
      }
      last = want.size;
    }
  } finally {
    sub.unsubscribe();
  }
}

async function drainBacklog(ctx, nodeCount, { n, concurrency, kind, input }) {
  const tag = `rc${process.pid}`;
  const dir = join(ctx.dir, 'project');
  writeProject(dir, {
    node: { concurrency, logLevel: 'warn' },
    store: { type: 'nats', bucket: `${tag}-tasks` },
    nats: { servers: [ctx.servers.nats.url], prefix: tag, stream: `${tag.toUpperCase()}_SUBMIT` },
  });
  const nc = await connect({ servers: ctx.servers.nats.url, noAsyncTraces: true });
  const c = await client(ctx, dir);
  const nodes = [];
  try {
    // A node creates the submission stream on its first start: once, then stopped, so the
    // backlog is queued before any node drains it.
    const first = startNode(ctx, dir, { REEVE_NODE__ID: 'node-0', REEVE_NODE__DATADIR: '.reeve-0' });
    const jsm = await jetstreamManager(nc);
    await waitFor('the submission stream', async () => (first.check(), await jsm.streams.info(`${tag.toUpperCase()}_SUBMIT`).then(() => true, () => false)), { timeoutMs: 60_000 });
    await first.stop();
    const ids = await submitAll(c, n, { kind, ...(input ? { input } : {}) });
    for (let i = 0; i < nodeCount; i++) nodes.push(startNode(ctx, dir, { REEVE_NODE__ID: `node-${i}`, REEVE_NODE__DATADIR: `.reeve-${i}` }));
    await allSucceeded(nc, c, tag, ids, nodes);
    const recs = await records(c, ids);
    const bad = recs.filter((r) => r?.state !== 'succeeded');
    if (bad.length > 0) throw new Error(`${bad.length} tasks not succeeded`);
    const se = recs.map(startEnd);
    return spanRate(se.map((x) => x.start), se.map((x) => x.end), n);
  } finally {
    await Promise.all(nodes.map((node) => node.stop('SIGTERM', 10_000)));
    await c.close();
    await nc.close();
  }
}

export const workloads = (nodes) => ({
  noop: (p, ctx) => drainBacklog(ctx, nodes, { ...p, kind: 'noop' }),
  sleep: (p, ctx) => drainBacklog(ctx, nodes, { ...p, kind: 'sleep', input: { ms: p.ms } }),
  io: (p, ctx) => drainBacklog(ctx, nodes, { ...p, kind: 'sleep', input: { ms: p.ms } }),
});
