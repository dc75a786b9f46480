import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { clusterProject, observe, type ClusterProject } from '../support/cluster.ts';
import { natsServerForSuite } from '../support/nats-server.ts';
import { startReceiver, waitFor, type Receiver } from '../support/webhook-receiver.ts';

/**
 * Notifications across real `reeve start` processes: kill -9 between the state change and the
 * delivery, on SQLite and on NATS KV, and one delivery per notification in a two-node cluster.
 */
const nats = natsServerForSuite();

type Node = ReturnType<ClusterProject['start']>;

// A command, not a module agent: no worker thread has to start and compile TypeScript first.
const perm = { command: ['false'], retry: { permanent: { maxAttempts: 1 } } };

function projectFor(backend: 'sqlite' | 'nats', receiver: Receiver, delivery: Record<string, unknown>, tag = randomUUID().slice(0, 8)): ClusterProject {
  const project = clusterProject({ servers: [nats.url], bucket: `notify-${tag}`, nats: { prefix: `n${tag}`, stream: `NOTIFY_${tag}` }, agents: { perm } });
  // clusterProject writes a NATS store; the SQLite variant rewrites the store section.
  const file = join(project.dir, 'reeve.config.json');
  const config = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  if (backend === 'sqlite') config.store = { type: 'sqlite', path: '.reeve/reeve.db' };
  config.notify = [{ on: ['task.failed', 'node.dead'], webhook: { url: receiver.url } }];
  config.notifyDelivery = { firstDelayMs: 100, maxDelayMs: 500, pollIntervalMs: 50, ...delivery };
  writeFileSync(file, JSON.stringify(config, null, 2));
  return project;
}

async function statusOf(project: ClusterProject): Promise<{ nodes: Array<{ id: string; state: string }>; notifications: { pending: number; failed: number } }> {
  const out = await project.cli(['status', '--json']);
  return JSON.parse(out.stdout || '{"nodes":[],"notifications":{"pending":-1,"failed":-1}}') as never;
}

async function submit(project: ClusterProject, kind: string): Promise<string> {
  const out = await project.cli(['submit', kind, '--json']);
  if (out.code !== 0) throw new Error(`submit failed: ${out.stderr}`);
  return (JSON.parse(out.stdout) as { id: string }).id;
}

async function stopNode(node: Node): Promise<void> {
  if (node.exitCode !== null || node.signalCode !== null) return;
  node.kill('SIGTERM');
  await node.exited;
}

describe('notifications survive kill -9 of the node', () => {
  const nodes: Node[] = [];
  let project: ClusterProject | undefined;
  let receiver: Receiver | undefined;
  afterEach(async () => {
    for (const node of nodes.splice(0)) await stopNode(node);
    project?.remove();
    await receiver?.stop();
    project = undefined;
    receiver = undefined;
  });

  it.each(['sqlite', 'nats'] as const)('%s: a delivery cut off by kill -9 is made again after restart, and the dead incarnation is reported', { timeout: 120_000 }, async (backend) => {
    receiver = await startReceiver();
    receiver.mode = 'hang'; // the webhook takes the request and never answers: the node dies mid-delivery
    project = projectFor(backend, receiver, { timeoutMs: 60_000 });
    const first = project.start('solo');
    nodes.push(first);
    await waitFor(() => statusOf(project!), (s) => s.nodes.some((n) => n.id === 'solo' && n.state === 'up'), 30_000);
    const id = await submit(project, 'perm');
    const cutOff = await waitFor(() => receiver!.requests.filter((d) => d.body.event === 'task.failed'), (r) => r.length === 1, 30_000);
    expect(cutOff[0]!.body.task).toMatchObject({ id, state: 'failed' });

    first.kill('SIGKILL');
    await first.exited;
    expect((await statusOf(project)).notifications).toMatchObject({ pending: 1 });

    receiver.mode = { status: 200 };
    const second = project.start('solo');
    nodes.push(second);
    await waitFor(() => statusOf(project!), (s) => s.notifications.pending === 0, 60_000, (s) => JSON.stringify(s));
    const failed = receiver.requests.filter((d) => d.body.event === 'task.failed');
    expect(failed.length).toBeGreaterThanOrEqual(2);
    expect(new Set(failed.map((d) => d.body.id))).toEqual(new Set([cutOff[0]!.body.id]));
    const dead = receiver.unique().filter((d) => d.body.event === 'node.dead');
    expect(dead.map((d) => d.body)).toMatchObject([{ node: 'solo', deadNode: { detectedBy: 'solo' } }]);
  });

  it('nats: two nodes deliver each notification once, and the survivor reports the node killed with -9', { timeout: 120_000 }, async () => {
    receiver = await startReceiver();
    const tag = randomUUID().slice(0, 8);
    project = projectFor('nats', receiver, {}, tag);
    nodes.push(project.start('alpha'), project.start('beta'));
    await waitFor(() => statusOf(project!), (s) => s.nodes.filter((n) => n.state === 'up').length === 2, 30_000);
    // Published as any publisher would, all at once: both nodes' delivery loops compete for them.
    const observer = await observe([nats.url], `notify-${tag}`);
    const ids = Array.from({ length: 20 }, (_, i) => `fail-${tag}-${i}`);
    try {
      await Promise.all(ids.map((id) => observer.js.publish(`n${tag}.submit`, JSON.stringify({ id, kind: 'perm' }), { msgID: id })));
    } finally {
      await observer.close();
    }
    await waitFor(() => receiver!.unique().filter((d) => d.body.event === 'task.failed').length, (n) => n === ids.length, 60_000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const failed = receiver.requests.filter((d) => d.body.event === 'task.failed');
    const why = () => `requests: ${JSON.stringify(failed.map((d) => d.body.task!.id))}\nalpha: ${nodes[0]!.stderrText().slice(-2000)}\nbeta: ${nodes[1]!.stderrText().slice(-2000)}`;
    expect(failed.map((d) => d.body.task!.id).sort(), why()).toEqual([...ids].sort());

    // A node that misses three beacons counts as dead, so on a loaded machine a slow beta may be
    // reported before the kill too (another death: another id); the kill itself is reported once.
    const before = receiver.requests.filter((d) => d.body.event === 'node.dead').length;
    nodes[1]!.kill('SIGKILL');
    await nodes[1]!.exited;
    await waitFor(() => receiver!.requests.filter((d) => d.body.event === 'node.dead').length, (n) => n > before, 30_000);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const dead = receiver.requests.filter((d) => d.body.event === 'node.dead');
    expect(dead.slice(before).map((d) => d.body), JSON.stringify(dead.map((d) => d.body))).toMatchObject([{ node: 'beta', deadNode: { detectedBy: 'alpha' } }]);
    expect(new Set(dead.map((d) => d.body.id)).size).toBe(dead.length);
  });
});
