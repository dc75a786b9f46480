import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { project, reeve, startReeve } from '../support/cli.ts';
import { fixtureAgent } from '../support/test-node.ts';

const config = {
  node: { concurrency: 4, pollIntervalMs: 50 },
  agents: {
    echo: { module: fixtureAgent('echo.ts') },
    broken: { module: fixtureAgent('fails-permanently.ts'), retry: { permanent: { maxAttempts: 1 } } },
  },
};

describe('reeve CLI (the real binary)', () => {
  let p: { dir: string; remove(): void };
  beforeAll(() => {
    p = project(config);
  });
  afterAll(() => p.remove());

  it('prints the version with --version and the help for a bare reeve, both exit 0', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) expect(await reeve(p.dir, [flag])).toMatchObject({ code: 0, stdout: `${version}\n` });
    const bare = await reeve(p.dir, []);
    expect(bare.code).toBe(0);
    expect(bare.stdout).toContain('Usage: reeve');
    expect(bare.stdout).toContain('submit [options] <kind>');
  });

  it('submits without a running node and prints one JSON value with --json', async () => {
    const r = await reeve(p.dir, ['submit', 'echo', '--input', '{"a":1}', '--id', 'cli-1', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ id: 'cli-1', created: true, state: 'queued' });
    const again = await reeve(p.dir, ['submit', 'echo', '--id', 'cli-1', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ id: 'cli-1', created: false });
  });

  it('shows a task in the contract shape and lists tasks newest first', async () => {
    await reeve(p.dir, ['submit', 'echo', '--id', 'cli-2', '--json']);
    const show = await reeve(p.dir, ['show', 'cli-2', '--json']);
    expect(show.code).toBe(0);
    const record = JSON.parse(show.stdout);
    expect(record).toMatchObject({ id: 'cli-2', kind: 'echo', state: 'queued', attempts: { transient: 0, permanent: 0, crashes: 0 }, history: [{ to: 'queued' }], compensations: [], annotations: [] });
    expect(record).not.toHaveProperty('snapshot');
    const list = await reeve(p.dir, ['tasks', '--json', '--limit', '1']);
    expect(JSON.parse(list.stdout).map((t: { id: string }) => t.id)).toEqual(['cli-2']);
  });

  it.each([
    [['show', 'nope', '--json'], 3, 'TASK_NOT_FOUND'],
    [['tasks', '--limit', '0', '--json'], 2, 'INVALID_INPUT'],
    [['tasks', '--state', 'done', '--json'], 2, 'INVALID_INPUT'],
    [['submit', 'bad/kind', '--json'], 2, 'INVALID_INPUT'],
    [['submit', 'unknown-kind', '--json'], 2, 'INVALID_INPUT'],
    [['submit', 'echo', '--input', '{not json', '--json'], 2, 'INVALID_INPUT'],
    [['retry', 'cli-1', '--json'], 4, 'INVALID_TRANSITION'],
    [['frobnicate', '--json'], 2, 'USAGE'],
  ])('reeve %j exits %i with a JSON error %s', async (args, code, errorCode) => {
    const r = await reeve(p.dir, args);
    expect(r.code).toBe(code);
    expect(JSON.parse(r.stdout)).toMatchObject({ error: { code: errorCode } });
  });

  it('names the file, the field and the fix for a bad config, with exit 2', async () => {
    const bad = project({ agents: { echo: { module: './x.ts', timeoutMs: '30s' } } });
    try {
      const r = await reeve(bad.dir, ['status']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('reeve.config.json');
      expect(r.stderr).toContain('agents.echo.timeoutMs');
    } finally {
      bad.remove();
    }
  });

  it('refuses a config whose module or step file does not exist in every command that loads it, naming the dotted field (exit 2)', { timeout: 60_000 }, async () => {
    const missing = project({
      agents: {
        echo: { module: './agents/echo.ts' },
        ship: { steps: [{ name: 'a', run: { module: fixtureAgent('echo.ts') }, compensate: { module: './agents/undo.ts' } }] },
      },
    });
    try {
      for (const args of [['status'], ['tasks', '--json'], ['start']]) {
        const r = await reeve(missing.dir, args);
        expect(r.code, args.join(' ')).toBe(2);
        const text = r.stdout + r.stderr;
        expect(text).toContain(`agents.echo.module: module file ${join(missing.dir, 'agents/echo.ts')} does not exist; create it or fix the path`);
        expect(text).toContain('agents.ship.steps.0.compensate.module');
      }
    } finally {
      missing.remove();
    }
  });

  it('start checks every kind before claiming: a module without a default export function or a program not on PATH stops it with exit 2', { timeout: 90_000 }, async () => {
    const bad = project({ node: { pollIntervalMs: 50 }, agents: { echo: { module: fixtureAgent('echo.ts') }, named: { module: './named.mjs' }, cli: { command: ['no-such-program-anywhere'] } } });
    writeFileSync(join(bad.dir, 'named.mjs'), 'export async function run() { return 1; }\n');
    try {
      await reeve(bad.dir, ['submit', 'echo', '--id', 'not-claimed']);
      const node = startReeve(bad.dir);
      expect(await node.exited).toBe(2);
      expect(node.stderrText()).toContain(`agents.named.module: ${join(bad.dir, 'named.mjs')} has no export "default"; export the agent from it`);
      expect(node.stderrText()).toMatch(/agents\.cli\.command\.0: "no-such-program-anywhere" is not found on PATH .*--no-check/);
      expect(JSON.parse((await reeve(bad.dir, ['show', 'not-claimed', '--json'])).stdout)).toMatchObject({ state: 'queued', attempts: { transient: 0, permanent: 0, crashes: 0 } });

      // --no-check: the program may be installed later; the node starts and runs what it can.
      writeFileSync(join(bad.dir, 'named.mjs'), 'export default async function () { return 1; }\n');
      const unchecked = startReeve(bad.dir, {}, ['--no-check']);
      try {
        const ok = await reeve(bad.dir, ['submit', 'echo', '--input', '{"x":1}', '--wait', '--json']);
        expect(ok.code, ok.stderr).toBe(0);
      } finally {
        unchecked.kill('SIGTERM');
      }
      expect(await unchecked.exited).toBe(0);
    } finally {
      bad.remove();
    }
  });

  it('runs a node: submit --wait exits 0 on success and 1 on failure; status sees the node; SIGTERM drains, exits 0 and status shows it drained, not dead', async () => {
    const node = startReeve(p.dir);
    try {
      const ok = await reeve(p.dir, ['submit', 'echo', '--input', '{"x":2}', '--wait', '--json']);
      expect(ok.code).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ state: 'succeeded', result: { echo: { x: 2 } } });
      const failed = await reeve(p.dir, ['submit', 'broken', '--wait', '--json']);
      expect(failed.code).toBe(1);
      expect(JSON.parse(failed.stdout)).toMatchObject({ state: 'failed', error: { class: 'permanent' } });
      const status = JSON.parse((await reeve(p.dir, ['status', '--json'])).stdout);
      expect(status).toMatchObject({ mode: 'embedded', breakers: [], preflight: [] });
      expect(status.nodes).toEqual([expect.objectContaining({ state: 'up', capacity: 4 })]);
      expect(status.counts.succeeded).toBeGreaterThanOrEqual(1);
    } finally {
      node.kill('SIGTERM');
    }
    expect(await node.exited).toBe(0);
    const after = JSON.parse((await reeve(p.dir, ['status', '--json'])).stdout);
    expect(after.nodes[0]).toMatchObject({ state: 'drained', running: 0 });
    const human = (await reeve(p.dir, ['status'])).stdout;
    expect(human).toMatch(new RegExp(`${after.nodes[0].id}\\s+drained\\s`));
    expect(human).not.toMatch(/\bdead\b/);
  });

  it('reaps from the CLI: --dry-run --json reports in the contract shape', async () => {
    const r = await reeve(p.dir, ['reap', '--dry-run', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ reaped: 0, skipped: [], alive: [] });
  });

  it('purges finished tasks older than --older-than (dry run first), and refuses a bad duration or state', async () => {
    const own = project(config);
    try {
      const path = join(own.dir, '.reeve', 'reeve.db');
      const twoDaysAgo = { now: () => Date.now() - 2 * 86_400_000 };
      const old = openSqliteTaskStore({ path, clock: twoDaysAgo });
      await old.submit({ id: 'old', kind: 'echo' });
      const [claimed] = await old.claim({ owner: 'n:1', limit: 1, leaseTtlMs: 60_000 });
      await old.transition({ id: 'old', revision: claimed!.revision, owner: 'n:1', to: 'succeeded', reason: 'done', result: null });
      await old.submit({ id: 'waiting', kind: 'echo' });
      await old.addDeadLetter({ source: 'cli', code: 'INVALID_INPUT', reason: 'bad', payload: '{}' });
      await old.close();

      const dry = await reeve(own.dir, ['purge', '--older-than', '1d', '--dry-run', '--json']);
      expect(dry.code, dry.stderr).toBe(0);
      expect(JSON.parse(dry.stdout)).toMatchObject({ purged: 1, ids: ['old'], deadLetters: 1, dryRun: true, more: false });
      expect((await reeve(own.dir, ['show', 'old', '--json'])).code).toBe(0);
      expect(JSON.parse((await reeve(own.dir, ['purge', '--older-than', '3d', '--json'])).stdout)).toMatchObject({ purged: 0 });
      const done = await reeve(own.dir, ['purge', '--older-than', '1d', '--state', 'succeeded', 'failed', '--json']);
      expect(JSON.parse(done.stdout)).toMatchObject({ purged: 1, ids: ['old'], deadLetters: 0, dryRun: false });
      expect(JSON.parse((await reeve(own.dir, ['purge', '--older-than', '1d', '--json'])).stdout)).toMatchObject({ purged: 0, deadLetters: 1 });
      expect((await reeve(own.dir, ['show', 'old', '--json'])).code).toBe(3);
      expect((await reeve(own.dir, ['show', 'waiting', '--json'])).code).toBe(0);

      const badDuration = await reeve(own.dir, ['purge', '--older-than', 'soon', '--json']);
      expect(badDuration.code).toBe(2);
      expect(JSON.parse(badDuration.stdout).error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/--older-than.*30d/s) });
      const badState = await reeve(own.dir, ['purge', '--older-than', '1d', '--state', 'queued', '--json']);
      expect(badState.code).toBe(2);
      expect(JSON.parse(badState.stdout).error.message).toMatch(/only finished tasks can be purged/);
      expect((await reeve(own.dir, ['purge', '--json'])).code).toBe(2);
    } finally {
      own.remove();
    }
  });

  it('exits 5 naming the servers and the fix when store.type is nats and no NATS answers', async () => {
    // Port 1 on loopback: nothing listens there.
    const nats = project({ store: { type: 'nats' }, nats: { servers: ['nats://127.0.0.1:1'] }, agents: { echo: { module: fixtureAgent('echo.ts') } } });
    try {
      for (const args of [['start'], ['status', '--json']]) {
        const r = await reeve(nats.dir, args);
        expect(r.code).toBe(5);
        expect(r.stderr + r.stdout).toContain('127.0.0.1:1');
        expect(r.stderr + r.stdout).toMatch(/STORE_UNAVAILABLE/);
      }
    } finally {
      nats.remove();
    }
  });

  it('works from any directory with --config', async () => {
    writeFileSync(join(p.dir, 'elsewhere.json'), JSON.stringify(config));
    const r = await reeve('/', ['--config', join(p.dir, 'elsewhere.json'), 'tasks', '--json']);
    expect(r.code).toBe(0);
    expect(Array.isArray(JSON.parse(r.stdout))).toBe(true);
  });
});
