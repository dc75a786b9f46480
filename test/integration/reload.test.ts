import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { project, reeve, startReeve } from '../support/cli.ts';
import { fixtureAgent } from '../support/test-node.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('config reload (SIGHUP)', () => {
  let p: { dir: string; remove(): void } | undefined;
  afterEach(() => p?.remove());

  it('uses the new config for the next attempt, keeps the old one when the new one is broken, and refuses retry on a running task', { timeout: 120_000 }, async () => {
    const config = (module: string) => ({
      node: { pollIntervalMs: 50, drainTimeoutMs: 500 },
      agents: {
        k: { module: fixtureAgent(module), retry: { transient: { maxAttempts: 10, baseMs: 1, maxMs: 5 } }, maxRetryAfterMs: 3000 },
        wait: { module: fixtureAgent('waits-for-abort.ts') },
      },
    });
    p = project(config('throws-transient.ts'));
    const file = join(p.dir, 'reeve.config.json');
    const store = openSqliteTaskStore({ path: join(p.dir, '.reeve', 'reeve.db') });
    const node = startReeve(p.dir);
    try {
      const { task } = await store.submit({ kind: 'k', input: { fixed: true } });
      for (const deadline = Date.now() + 30_000; Date.now() < deadline && (await store.get(task.id))?.state !== 'backoff';) await sleep(25);
      expect((await store.get(task.id))?.state).toBe('backoff');

      // The fix is deployed while the task waits out its Retry-After (1.2 s).
      writeFileSync(file, JSON.stringify(config('echo.ts')));
      node.kill('SIGHUP');
      for (const deadline = Date.now() + 30_000; Date.now() < deadline && (await store.get(task.id))?.state !== 'succeeded';) await sleep(25);
      const fixed = await store.get(task.id);
      expect(fixed).toMatchObject({ state: 'succeeded', result: { echo: { fixed: true } } });
      // One failed attempt on an idle machine; a loaded one may finish the 1.2 s wait (and
      // fail once more on the old config) before the SIGHUP is handled. The result above is
      // what proves the new config ran.
      expect(fixed?.attempts.transient).toBeGreaterThanOrEqual(1);

      // A broken config is rejected; the node keeps running on the previous one.
      writeFileSync(file, '{ "agents": { "k": { "module": 42 } } }');
      node.kill('SIGHUP');
      for (const deadline = Date.now() + 30_000; Date.now() < deadline && !node.stderrText().includes('config reload rejected');) await sleep(25);
      expect(node.stderrText()).toContain('config reload rejected');
      const again = (await store.submit({ kind: 'k', input: { n: 2 } })).task;
      for (const deadline = Date.now() + 30_000; Date.now() < deadline && (await store.get(again.id))?.state !== 'succeeded';) await sleep(25);
      expect((await store.get(again.id))?.state).toBe('succeeded');

      // reeve retry is refused on a running task (exit 4).
      writeFileSync(file, JSON.stringify(config('echo.ts')));
      const running = (await store.submit({ kind: 'wait' })).task;
      for (const deadline = Date.now() + 30_000; Date.now() < deadline && (await store.get(running.id))?.state !== 'running';) await sleep(25);
      const refused = await reeve(p.dir, ['retry', running.id, '--json']);
      expect(refused.code).toBe(4);
      expect(JSON.parse(refused.stdout).error.message).toMatch(/cancel it first/);
    } finally {
      node.kill('SIGTERM');
      await node.exited;
      await store.close();
    }
  });
});
