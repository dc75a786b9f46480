import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { statusReport } from '../../src/views/status-report.ts';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { fixtureAgent, startTestNode, waitForState, type TestNode } from '../support/test-node.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('failure handling through a real node', () => {
  let t: TestNode | undefined;
  afterEach(async () => {
    await t?.dispose();
    t = undefined;
  });

  it('backs off a 429-emitting command agent, honours its Retry-After, and succeeds', async () => {
    const script = fileURLToPath(new URL('../fixtures/rate-limited.sh', import.meta.url));
    t = await startTestNode({ agents: { cli: { command: ['sh', script, '{{input.counter}}'], retry: { transient: { maxAttempts: 5, baseMs: 10, maxMs: 50 } } } } });
    const id = (await t.node.store.submit({ kind: 'cli', input: { counter: join(t.dir, 'count') } })).task.id;
    const task = await waitForState(t.node, id, ['succeeded', 'failed'], 20_000);
    expect(task).toMatchObject({ state: 'succeeded', result: { ok: true, runs: 3 }, attempts: { transient: 2, permanent: 0 } });
    const runs = task.history.filter((h) => h.to === 'running').map((h) => h.at);
    expect(runs).toHaveLength(3);
    // Never sooner than the provider's Retry-After (1 s), although the backoff cap is 50 ms.
    expect(runs[1]! - runs[0]!).toBeGreaterThanOrEqual(1000);
    expect(runs[2]! - runs[1]!).toBeGreaterThanOrEqual(1000);
  });

  it('classifies a command by the last 16 KiB of its output, not its last 20 lines', async () => {
    const script = fileURLToPath(new URL('../fixtures/procs/error-then-noise.mjs', import.meta.url));
    const once = { transient: { maxAttempts: 1 }, permanent: { maxAttempts: 1 } };
    t = await startTestNode({ agents: { cli: { command: ['node', script, '{{input.lines}}'], retry: once } } });
    // 200 lines (~9 KiB) after the 529: past the message's 20 lines, within the tail.
    const near = (await t.node.store.submit({ kind: 'cli', input: { lines: 200 } })).task.id;
    // 600 lines (~27 KiB) after it: the 529 has left the tail, and the failure is what the tail shows.
    const far = (await t.node.store.submit({ kind: 'cli', input: { lines: 600 } })).task.id;
    const nearTask = await waitForState(t.node, near, ['failed']);
    expect(nearTask).toMatchObject({ attempts: { transient: 1, permanent: 0 }, error: { class: 'transient' } });
    expect(nearTask.error?.message).not.toContain('529');
    expect(nearTask.error?.message.split('\n')).toHaveLength(21);
    expect(await waitForState(t.node, far, ['failed'])).toMatchObject({ attempts: { transient: 0, permanent: 1 }, error: { class: 'permanent' } });
  });

  it('opens the breaker after N transient failures, blocks only its key, probes once per half-open, closes on success', { timeout: 60_000 }, async () => {
    t = await startTestNode({
      node: { concurrency: 8 },
      agents: {
        prov: { module: fixtureAgent('provider.ts'), retry: { transient: { maxAttempts: 100, baseMs: 1, maxMs: 5 } }, breaker: { threshold: 3, pauseMs: 600, maxPauseMs: 1200 } },
        echo: { module: fixtureAgent('echo.ts') },
      },
    });
    const store = t.node.store;
    const ids = [];
    for (let i = 0; i < 8; i++) ids.push((await store.submit({ kind: 'prov', input: { dir: t.dir } })).task.id);
    for (let i = 0; i < 1000 && (await store.listBreakers())[0]?.state !== 'open'; i++) await sleep(10);
    expect((await store.listBreakers())[0]).toMatchObject({ key: 'prov', state: 'open' });
    // Another process (here: another connection, as the CLI opens) sees it in `reeve status --json`.
    const cli = openSqliteTaskStore({ path: t.config.store.path });
    const status = await statusReport(cli, Date.now());
    await cli.close();
    expect(status.breakers).toEqual([expect.objectContaining({ key: 'prov', state: expect.stringMatching(/open|halfOpen/) })]);

    // Other keys are unaffected while it is open.
    const echo = (await store.submit({ kind: 'echo' })).task.id;
    await waitForState(t.node, echo, ['succeeded']);

    // Still down: the half-open probe fails and the breaker re-opens (one probe, not eight).
    for (let i = 0; i < 1000 && t.log.lines.filter((l) => l.msg === 'breaker probe started').length < 1; i++) await sleep(10);
    for (let i = 0; i < 1000 && (await store.listBreakers())[0]?.state !== 'open'; i++) await sleep(10);
    writeFileSync(join(t.dir, 'provider-up'), '');
    for (const id of ids) await waitForState(t.node, id, ['succeeded'], 20_000);
    expect((await store.listBreakers())[0]?.state).toBe('closed');

    const probes = t.log.lines.filter((l) => l.msg === 'breaker probe started');
    expect(probes.length).toBeGreaterThanOrEqual(2);
    // Each half-open window admitted exactly one claim. Counted on claims (history entries into
    // `running`), not on agent starts: a run claimed before the open can start after it when
    // the module pool is busy. A claim round that read the gates just before the breaker opened
    // may still land a moment after it (gates are read, then tasks claimed): skip 100 ms.
    const opened = t.log.lines.filter((l) => l.msg === 'breaker open').map((l) => l.fields.at as number);
    const closedAt = t.log.lines.find((l) => l.msg === 'breaker closed')!.fields.at as number;
    const claims = (await Promise.all(ids.map((id) => store.get(id)))).flatMap((task) => task!.history.filter((h) => h.to === 'running').map((h) => h.at));
    const during = claims.filter((at) => at > opened[0]! + 100 && at < closedAt);
    expect(during.length).toBe(probes.length);
    // The provider really was called again and again while it was down (the log the agent keeps).
    expect(readFileSync(join(t.dir, 'attempts.log'), 'utf8').trim().split('\n').length).toBeGreaterThan(3);
  });

  it('runs a fresh preflight before the half-open probe, although the cached result is within its TTL', { timeout: 30_000 }, async () => {
    const script = fileURLToPath(new URL('../fixtures/procs/counts-preflights.sh', import.meta.url));
    const checks = join(tmpdir(), `reeve-preflight-${randomUUID()}`);
    const attempts = join(tmpdir(), `reeve-attempts-${randomUUID()}`);
    t = await startTestNode({
      agents: {
        prov: {
          command: ['sh', script, checks, attempts],
          retry: { transient: { maxAttempts: 5, baseMs: 1, maxMs: 5 } },
          breaker: { threshold: 2, pauseMs: 300, maxPauseMs: 300 },
          // A TTL far longer than the test: only the probe can make the preflight run again.
          preflight: { command: ['sh', '-c', 'echo check >> "$0"', checks], ttlMs: 600_000 },
        },
      },
    });
    try {
      const id = (await t.node.store.submit({ kind: 'prov' })).task.id;
      const task = await waitForState(t.node, id, ['succeeded', 'failed']);
      expect(task).toMatchObject({ state: 'succeeded', attempts: { transient: 2 } });
      // How many checks had run when each attempt started: one before the two failures that
      // opened the breaker, a second one before the probe.
      expect(readFileSync(attempts, 'utf8').trim().split('\n')).toEqual(['1', '1', '2']);
      expect(t.log.lines.some((l) => l.msg === 'breaker probe started')).toBe(true);
    } finally {
      rmSync(checks, { force: true });
      rmSync(attempts, { force: true });
    }
  });

  it('holds a kind while its preflight fails and runs its tasks once it passes', async () => {
    const flag = join(tmpdir(), `reeve-preflight-${randomUUID()}`);
    t = await startTestNode({
      agents: {
        gated: {
          module: fixtureAgent('echo.ts'),
          preflight: { command: ['node', '-e', 'process.exit(require("fs").existsSync(process.argv[1]) ? 0 : 1)', flag], timeoutMs: 5000, ttlMs: 100 },
        },
        other: { module: fixtureAgent('echo.ts') },
      },
    });
    const id = (await t.node.store.submit({ kind: 'gated' })).task.id;
    const other = (await t.node.store.submit({ kind: 'other' })).task.id;
    await waitForState(t.node, other, ['succeeded']);
    for (let i = 0; i < 100 && (await t.node.store.listPreflight()).length === 0; i++) await sleep(20);
    expect(await t.node.store.listPreflight()).toEqual([expect.objectContaining({ kind: 'gated', ok: false })]);
    expect((await t.node.store.get(id))?.state).toBe('queued');
    writeFileSync(flag, '');
    try {
      await waitForState(t.node, id, ['succeeded']);
      expect(await t.node.store.listPreflight()).toEqual([expect.objectContaining({ kind: 'gated', ok: true })]);
    } finally {
      rmSync(flag, { force: true });
    }
  });
});
