import { afterEach, describe, expect, it } from 'vitest';
import { project, reeve, startReeve } from '../support/cli.ts';
import { fixtureAgent } from '../support/test-node.ts';

/**
 * A task's own `timeoutMs`, through the real `reeve` binary: `submit --timeout-ms` against a
 * `reeve start` process, slow module and command agents, counted as DESIGN.md says (a timeout is
 * permanent unless the kind sets `timeoutIs: "transient"`).
 */
describe('per-task timeoutMs, end to end', () => {
  let p: { dir: string; remove(): void } | undefined;
  afterEach(() => p?.remove());

  const once = { transient: { maxAttempts: 1 }, permanent: { maxAttempts: 1 } };
  const sleepy = fixtureAgent('sleepy.ts');

  it('times a slow module agent and a slow command agent out at the task override, permanent unless timeoutIs is transient', { timeout: 60_000 }, async () => {
    p = project({
      node: { pollIntervalMs: 50, concurrency: 4 },
      agents: {
        // No timeoutMs: the kind's default (30 minutes) is what the override replaces.
        mod: { module: sleepy, retry: once },
        // Timeout turned off in config: a task's override still applies.
        cmd: { command: ['sleep', '60'], timeoutMs: 0, killGraceMs: 200, retry: once },
        modT: { module: sleepy, timeoutIs: 'transient', retry: once },
        cmdT: { command: ['sleep', '60'], timeoutIs: 'transient', killGraceMs: 200, retry: once },
      },
    });
    const node = startReeve(p.dir);
    try {
      const submit = (kind: string) => reeve(p!.dir, ['submit', kind, '--input', '{"ms":60000}', '--timeout-ms', '300', '--wait', '--json']);
      const [mod, cmd, modT, cmdT] = await Promise.all(['mod', 'cmd', 'modT', 'cmdT'].map(submit));
      const timedOut = { state: 'failed', error: { class: 'timeout', code: 'RUN_TIMED_OUT', message: expect.stringContaining('timed out after 300 ms') } };
      for (const r of [mod!, cmd!, modT!, cmdT!]) expect(r.code, r.stderr).toBe(1);
      expect(JSON.parse(mod!.stdout)).toMatchObject({ ...timedOut, attempts: { transient: 0, permanent: 1 } });
      expect(JSON.parse(cmd!.stdout)).toMatchObject({ ...timedOut, attempts: { transient: 0, permanent: 1 } });
      expect(JSON.parse(modT!.stdout)).toMatchObject({ ...timedOut, attempts: { transient: 1, permanent: 0 } });
      expect(JSON.parse(cmdT!.stdout)).toMatchObject({ ...timedOut, attempts: { transient: 1, permanent: 0 } });
    } finally {
      node.kill('SIGTERM');
    }
    expect(await node.exited).toBe(0);
    // The node said at start that `cmd` runs untimed, and only `cmd`.
    const warnings = node.stderrText().split('\n').filter((line) => line.includes('timeoutMs is 0'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/"kind":"cmd"/);
  });

  it('refuses --timeout-ms 0 and one past the longest timer with exit 2, naming the option and the limit', async () => {
    p = project({ agents: { cmd: { command: ['true'] } } });
    for (const value of ['0', String(2 ** 31)]) {
      const r = await reeve(p.dir, ['submit', 'cmd', '--timeout-ms', value]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`--timeout-ms: must be an integer from 1 to 2147483647 (got "${value}")`);
    }
  });
});
