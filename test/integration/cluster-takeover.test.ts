import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { clusterProject, observe, until } from '../support/cluster.ts';
import { natsServerForSuite } from '../support/nats-server.ts';

/**
 * Node failure and drain across OS processes on one real nats-server: a node killed with
 * SIGKILL mid-run, and a node told to drain with `reeve drain`.
 */
const hangsOnce = fileURLToPath(new URL('../fixtures/procs/first-run-hangs.sh', import.meta.url));
const nats = natsServerForSuite();

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function firstRunPids(dir: string): Map<string, number> {
  let text = '';
  try {
    text = readFileSync(join(dir, 'pids'), 'utf8');
  } catch {
    /* none yet */
  }
  return new Map(text.split('\n').filter(Boolean).map((line) => line.split(' ')).map(([task, pid]) => [task!, Number(pid)]));
}

function setup(prefix: string) {
  const cluster = clusterProject({
    servers: [nats.url],
    bucket: `${prefix}-tasks`,
    nats: { prefix, stream: `${prefix.toUpperCase()}_SUBMIT` },
    node: { concurrency: 4, leaseTtlMs: 3000 },
    agents: { hang: { command: ['/bin/sh', hangsOnce, '{{input.dir}}'], timeoutMs: 300_000 } },
  });
  const runs = join(cluster.dir, 'runs');
  mkdirSync(runs);
  return { cluster, runs };
}

describe('a node killed with SIGKILL mid-run', () => {
  it('is shown dead; its tasks are taken over only after their leases expire; its orphans are reaped when it restarts', async () => {
    const { cluster, runs } = setup('kill');
    const observer = await observe([nats.url], 'kill-tasks');
    const started: Array<ReturnType<typeof cluster.start>> = [];
    try {
      const a = cluster.start('node-a');
      started.push(a);
      const ids = ['k1', 'k2', 'k3'];
      await until(() => cluster.cli(['status', '--json']), (r) => r.stdout.includes('node-a'), 30_000, (r) => r.stdout + r.stderr);
      for (const id of ids) {
        const r = await cluster.cli(['submit', 'hang', '--id', id, '--input', JSON.stringify({ dir: runs })]);
        expect(r.code, r.stderr).toBe(0);
      }
      const pids = await until(() => firstRunPids(runs), (m) => m.size === ids.length, 30_000, (m) => `first runs: ${[...m.keys()]}`);
      a.kill('SIGKILL');
      await a.exited;
      // What the store says now is final for node-a: nobody renews its leases any more.
      const expiry = new Map<string, number>();
      for (const id of ids) {
        const task = (await observer.store.get(id))!;
        expect(task.owner).toMatch(/^node-a:/);
        expiry.set(id, task.leaseExpiresAt!);
      }
      for (const pid of pids.values()) expect(alive(pid)).toBe(true);

      const b = cluster.start('node-b');
      started.push(b);
      const status = await until(
        async () => JSON.parse((await cluster.cli(['status', '--json'])).stdout || '{}') as { nodes?: Array<{ id: string; state: string }> },
        (s) => s.nodes?.find((n) => n.id === 'node-a')?.state === 'dead' && s.nodes?.find((n) => n.id === 'node-b')?.state === 'up',
        30_000,
        (s) => JSON.stringify(s),
      );
      expect(status.nodes?.map((n) => n.id).sort()).toEqual(['node-a', 'node-b']);

      for (const id of ids) {
        const task = await until(() => observer.store.get(id), (t) => t?.state === 'succeeded', 60_000, (t) => JSON.stringify(t?.history));
        expect(task!.attempts).toEqual({ transient: 0, permanent: 0, crashes: 1 });
        const takeover = task!.history.find((h) => h.from === 'running' && h.to === 'queued');
        expect(takeover, JSON.stringify(task!.history)).toBeDefined();
        // Never before the dead owner's lease ran out.
        expect(takeover!.at).toBeGreaterThanOrEqual(expiry.get(id)!);
        expect(task!.history.at(-2)?.reason ?? '').toMatch(/node-b/);
      }
      // The first runs still hang (only a signal ends them): node-a's restart reaps them.
      for (const pid of pids.values()) expect(alive(pid)).toBe(true);
      const again = cluster.start('node-a');
      started.push(again);
      await until(() => [...pids.values()].filter(alive), (left) => left.length === 0, 20_000, (left) => `orphans still alive: ${left.join(', ')}`);
    } finally {
      for (const node of started) node.kill('SIGTERM');
      await Promise.all(started.map((n) => n.exited));
      for (const pid of firstRunPids(runs).values()) if (alive(pid)) process.kill(pid, 'SIGKILL');
      await observer.close();
      cluster.remove();
    }
  }, 150_000);
});

describe('reeve drain NODE', () => {
  it('stops the node pulling, hands back unfinished runs with no attempt charged, announces drained, exits 0 and shows as drained (not dead)', async () => {
    const { cluster, runs } = setup('drain');
    const observer = await observe([nats.url], 'drain-tasks');
    const started: Array<ReturnType<typeof cluster.start>> = [];
    try {
      const a = cluster.start('node-a');
      started.push(a);
      await until(() => cluster.cli(['status', '--json']), (r) => r.stdout.includes('node-a'), 30_000, (r) => r.stdout + r.stderr);
      const ids = ['d1', 'd2'];
      for (const id of ids) expect((await cluster.cli(['submit', 'hang', '--id', id, '--input', JSON.stringify({ dir: runs })])).code).toBe(0);
      await until(() => firstRunPids(runs), (m) => m.size === ids.length, 30_000, (m) => `first runs: ${[...m.keys()]}`);

      const drained = await cluster.cli(['drain', 'node-a', '--deadline-ms', '300', '--wait', '--json']);
      expect(drained.code, drained.stderr).toBe(0);
      expect(JSON.parse(drained.stdout)).toMatchObject({ draining: ['node-a'], drained: [{ id: 'node-a', handedBack: 2, finished: 0 }] });
      expect(await a.exited).toBe(0);
      // It said it stopped: drained, not dead (dead is for a node that vanished).
      const status = JSON.parse((await cluster.cli(['status', '--json'])).stdout) as { nodes: Array<{ id: string; state: string; running: number }> };
      expect(status.nodes.find((n) => n.id === 'node-a')).toMatchObject({ state: 'drained', running: 0 });
      expect((await cluster.cli(['status'])).stdout).toMatch(/node-a\s+drained\s/);
      for (const id of ids) {
        const task = (await observer.store.get(id))!;
        expect(task.state).toBe('queued');
        expect(task.attempts).toEqual({ transient: 0, permanent: 0, crashes: 0 });
        expect(task.owner).toBeUndefined();
      }
      // Another node finishes them; still nothing charged.
      started.push(cluster.start('node-b'));
      for (const id of ids) {
        const task = await until(() => observer.store.get(id), (t) => t?.state === 'succeeded', 30_000, (t) => JSON.stringify(t?.history));
        expect(task!.attempts).toEqual({ transient: 0, permanent: 0, crashes: 0 });
      }
    } finally {
      for (const node of started) node.kill('SIGTERM');
      await Promise.all(started.map((n) => n.exited));
      for (const pid of firstRunPids(runs).values()) if (alive(pid)) process.kill(pid, 'SIGKILL');
      await observer.close();
      cluster.remove();
    }
  }, 120_000);
});
