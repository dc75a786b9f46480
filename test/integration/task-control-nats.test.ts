import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { cleanEnv, reeveBin } from '../support/cli.ts';
import { taskControlReplySchema } from '../../src/protocol/messages.ts';
import { clusterProject, collect, observe, stopNodes, until, untilNodesUp, type NodeProcess, type Observer } from '../support/cluster.ts';
import { natsServerForSuite } from '../support/nats-server.ts';
import { fixtureAgent } from '../support/test-node.ts';

/**
 * Operator decisions over NATS (DESIGN.md, "Human steps"): request/reply on
 * `<prefix>.control.task.<id>` against two real `reeve start` processes on one nats-server. Each
 * request is decided by one node (a queue group), bad ones are answered, dead-lettered and
 * reported, and neither node stops.
 */
const nats = natsServerForSuite();
const decided = { steps: ['draft', 'ask', 'publish'].map((name) => ({ name, run: { module: fixtureAgent('sees-decisions.ts') } })) };

describe('task control over NATS', () => {
  it('approves with input and rejects back to a step through request/reply, once per request; answers a bad request naming the field', async () => {
    const bucket = 'ctl-tasks';
    const cluster = clusterProject({ servers: [nats.url], bucket, nats: { prefix: 'ctl', stream: 'CTL_SUBMIT' }, agents: { decided } });
    const nodes: NodeProcess[] = [];
    let observer: Observer | undefined;
    try {
      nodes.push(cluster.start('node-a'), cluster.start('node-b'));
      await untilNodesUp(cluster, ['node-a', 'node-b'], 40_000, nodes);
      observer = await observe([nats.url], bucket);
      const rejected = collect<{ code: string; reason: string; id?: string }>(observer.nc, 'ctl.events.rejected');
      const ask = async (id: string, body: unknown) => {
        const reply = await observer!.nc.request(`ctl.control.task.${id}`, typeof body === 'string' ? body : JSON.stringify(body), { timeout: 10_000 });
        return taskControlReplySchema.parse(reply.json()) as { ok?: true; task?: Record<string, any>; error?: { code: string; message: string } };
      };
      await observer.js.publish('ctl.submit', JSON.stringify({ id: 'c1', kind: 'decided' }), { msgID: 'c1' });
      const waiting = () => until(() => observer!.store.get('c1'), (t) => t?.state === 'waiting', 30_000, (t) => `c1 is ${t?.state}`);
      await waiting();

      expect((await ask('c1', '{"op": ')).error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('not JSON') });
      expect((await ask('c1', { op: 'reject' })).error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('reason') });
      expect((await ask('c1', { op: 'approve', goto: 'draft' })).error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('goto') });
      expect((await ask('c1', { op: 'reject', reason: 'x', goto: 'deploy' })).error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/goto.*draft, ask, publish/) });
      expect((await ask('c1', { op: 'merge' })).error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('op') });
      expect((await ask('nope', { op: 'approve' })).error).toMatchObject({ code: 'TASK_NOT_FOUND' });
      expect((await ask('c1', { op: 'retry' })).error).toMatchObject({ code: 'INVALID_TRANSITION' });

      const back = await ask('c1', { op: 'reject', reason: 'add a summary', goto: 'draft', by: 'ana' });
      expect(back.ok).toBe(true);
      expect(back.task).toMatchObject({ id: 'c1', state: 'queued', step: 'draft' });
      await until(() => observer!.store.get('c1'), (t) => (t?.history.length ?? 0) > 0 && t!.history.filter((h) => h.reason.startsWith('rejected by ana')).length === 1 && t!.state === 'waiting', 30_000, (t) => JSON.stringify(t?.history));
      const approved = await ask('c1', { op: 'approve', input: { channel: 'beta' }, reason: 'good now', by: 'ana' });
      expect(approved.task).toMatchObject({ state: 'queued', step: 'publish' });
      const done = await until(() => observer!.store.get('c1'), (t) => t?.state === 'succeeded', 30_000, (t) => `c1 is ${t?.state}`);
      expect(done!.result).toEqual({ step: 'publish', approval: { input: { channel: 'beta' }, reason: 'good now', by: 'ana', at: expect.any(Number) }, feedback: null });
      // One decision per request although two nodes listen.
      expect(done!.history.filter((h) => /^(approved|rejected) by ana/.test(h.reason))).toHaveLength(2);

      const letters = await observer.store.listDeadLetters(100);
      expect(letters.filter((l) => l.source === 'nats:ctl.control.task.c1')).toHaveLength(5);
      await until(() => rejected.messages.filter((m) => m.id === 'c1').length, (n) => n === 5, 10_000, (n) => `${n} rejections`);
      expect(await stopNodes(nodes.splice(0))).toEqual([0, 0]);
    } finally {
      await stopNodes(nodes);
      await observer?.close().catch(() => undefined);
      cluster.remove();
    }
  }, 120_000);

  it('submit --wait in a cluster: ends with the rejection when no live node runs the kind, and says so and keeps waiting while no node is up', async () => {
    const common = { servers: [nats.url], bucket: 'kinds-tasks', nats: { prefix: 'knd', stream: 'KND_SUBMIT' } };
    const others = clusterProject({ ...common, agents: { other: { module: fixtureAgent('echo.ts') } } });
    const wanted = clusterProject({ ...common, agents: { wanted: { module: fixtureAgent('echo.ts') } } });
    const nodes: NodeProcess[] = [];
    try {
      nodes.push(others.start('node-o'));
      await untilNodesUp(others, ['node-o'], 40_000, nodes);
      const refused = await wanted.cli(['submit', 'wanted', '--id', 'r1', '--wait']);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/task r1 was rejected by the cluster \(UNKNOWN_KIND\): .*"wanted"/);
      expect(await stopNodes(nodes.splice(0))).toEqual([0]);

      const child = spawn(process.execPath, [reeveBin, 'submit', 'wanted', '--id', 'r2', '--wait'], { cwd: wanted.dir, env: cleanEnv() });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      try {
        await until(() => stderr, (text) => text.includes('no live node runs kind wanted'), 20_000, (text) => text);
        expect(child.exitCode).toBeNull();
        nodes.push(wanted.start('node-w'));
        expect(await exited).toBe(0);
      } finally {
        child.kill();
      }
      expect(await stopNodes(nodes.splice(0))).toEqual([0]);
    } finally {
      await stopNodes(nodes);
      others.remove();
      wanted.remove();
    }
  }, 120_000);
});
