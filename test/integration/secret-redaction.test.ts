import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { project, reeve, startReeve } from '../support/cli.ts';
import { fixtureAgent } from '../support/test-node.ts';

// Quotes and a backslash: inside a JSON log line the secret appears escaped, and must go too.
const SECRET = 'sk-live-"q"\\7f3a9c01be';
const escaped = JSON.stringify(SECRET).slice(1, -1);

/** The node's log lines (pino JSON on stderr). */
const logLines = (stderr: string) =>
  stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('secrets in logs, end to end', () => {
  let p: { dir: string; remove(): void } | undefined;
  afterEach(() => p?.remove());

  it('redacts the config secrets from the node log, a module agent ctx.log, its error, and a command run log', { timeout: 60_000 }, async () => {
    p = project({
      secrets: [SECRET],
      node: { pollIntervalMs: 50, logLevel: 'debug' },
      agents: {
        mod: { module: fixtureAgent('leaks-secret.ts'), retry: { permanent: { maxAttempts: 1 } } },
        cmd: { command: ['sh', '-c', 'printf "out %s\\n" "$0"; printf "err %s\\n" "$0" >&2; exit 1', '{{input.token}}'], retry: { permanent: { maxAttempts: 1 } } },
      },
    });
    const node = startReeve(p.dir);
    let records: Record<string, unknown>[] = [];
    try {
      const input = JSON.stringify({ token: SECRET });
      const runs = await Promise.all(['mod', 'cmd'].map((kind) => reeve(p!.dir, ['submit', kind, '--input', input, '--wait', '--json'])));
      for (const r of runs) expect(JSON.parse(r.stdout)).toMatchObject({ state: 'failed' });
      records = runs.map((r) => JSON.parse(r.stdout) as Record<string, unknown>);
    } finally {
      node.kill('SIGTERM');
    }
    expect(await node.exited).toBe(0);
    const stderr = node.stderrText();
    expect(stderr).not.toContain(SECRET);
    expect(stderr).not.toContain(escaped);
    expect(stderr).not.toContain('7f3a9c01be');

    const lines = logLines(stderr);
    // The module agent's ctx.log: fields, nested fields and messages.
    expect(lines).toContainEqual(
      expect.objectContaining({ agent: true, msg: 'calling the provider with [redacted]', token: '[redacted]', request: { headers: { authorization: 'Bearer [redacted]' } } }),
    );
    expect(lines).toContainEqual(expect.objectContaining({ agent: true, msg: 'retrying with [redacted]' }));
    // What it printed with console.*: log lines of its task, not raw text on the node's stdout.
    expect(lines).toContainEqual(expect.objectContaining({ agent: true, console: true, level: 30, msg: 'printing [redacted] to stdout', kind: 'mod' }));
    expect(lines).toContainEqual(expect.objectContaining({ agent: true, console: true, level: 50, msg: "{ key: '[redacted]' }" }));
    expect(node.stdoutText()).not.toContain('7f3a9c01be');
    // The error the module agent threw, as the task record keeps it.
    const { input: _input, ...modRecord } = records[0]!;
    expect(JSON.stringify(modRecord)).toContain('the provider refused key [redacted]');
    expect(JSON.stringify(modRecord)).not.toContain('7f3a9c01be');
    // The node's own lines about the failures: the module's error and the command's output tail.
    const failed = lines.filter((l) => l.msg === 'attempt failed').map((l) => (l.failure as { message: string }).message);
    expect(failed).toContainEqual(expect.stringContaining('the provider refused key [redacted]'));
    expect(failed).toContainEqual(expect.stringContaining('err [redacted]'));

    // The command's run log, both streams.
    const logs = join(p.dir, '.reeve', 'logs');
    const text = readdirSync(logs).map((f) => readFileSync(join(logs, f), 'utf8')).join('');
    expect(text).toContain('out| out [redacted]');
    expect(text).toContain('err| err [redacted]');
    expect(text).not.toContain('7f3a9c01be');
  });
});
