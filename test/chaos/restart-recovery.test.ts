import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isTerminal } from '../../src/protocol/task-states.ts';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { project, startReeve } from '../support/cli.ts';
import { fixtureAgent } from '../support/test-node.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('a node killed with SIGKILL mid-run', () => {
  let p: { dir: string; remove(): void } | undefined;
  afterEach(() => p?.remove());

  it('is restarted and every task ends in exactly one terminal state, with the crash counted', { timeout: 90_000 }, async () => {
    p = project({
      node: { concurrency: 4, pollIntervalMs: 50, leaseTtlMs: 3000 },
      agents: { sleepy: { module: fixtureAgent('sleepy.ts') } },
    });
    const store = openSqliteTaskStore({ path: join(p.dir, '.reeve', 'reeve.db') });
    try {
      const total = 16;
      for (let i = 0; i < total; i++) await store.submit({ id: `job-${i}`, kind: 'sleepy', input: { ms: 400 } });
      const first = startReeve(p.dir);
      // Kill it while some tasks are running and others are still queued.
      for (const deadline = Date.now() + 30_000; Date.now() < deadline && ((await store.countByState()).running ?? 0) === 0;) await sleep(25);
      const running = (await store.query({ state: 'running' })).map((t) => t.id);
      expect(running.length).toBeGreaterThan(0);
      first.kill('SIGKILL');
      await first.exited;

      // The restarted node (same data dir, same node id) takes its old tasks back at once,
      // without waiting for their leases to expire.
      const second = startReeve(p.dir);
      const until = Date.now() + 30_000;
      let tasks = await store.query({ limit: total });
      while (tasks.some((t) => !isTerminal(t.state)) && Date.now() < until) {
        await sleep(100);
        tasks = await store.query({ limit: total });
      }
      second.kill('SIGTERM');
      expect(await second.exited).toBe(0);

      expect(tasks).toHaveLength(total);
      for (const task of tasks) {
        expect(task.state, task.id).toBe('succeeded');
        const terminals = task.history.filter((h) => isTerminal(h.to));
        expect(terminals, task.id).toHaveLength(1);
      }
      for (const id of running) {
        const task = tasks.find((t) => t.id === id)!;
        expect(task.attempts.crashes, id).toBe(1);
        expect(task.history.some((h) => /died/.test(h.reason)), id).toBe(true);
      }
    } finally {
      await store.close();
    }
  });
});
