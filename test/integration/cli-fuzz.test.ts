import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.ts';
import type { Io } from '../../src/cli/output.ts';
import { tempDir } from '../support/temp-dir.ts';
import { fixtureAgent } from '../support/test-node.ts';

/** mulberry32: a tiny seeded generator, so a failing vector can be replayed from its seed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// `start` runs until a signal, and `submit --wait` until a node runs the task: both are left out.
const SPECS: Record<string, { args: number; options: string[]; flags?: string[] }> = {
  submit: { args: 1, options: ['--input', '-i', '--id', '--priority', '--breaker-key', '--timeout-ms'] },
  tasks: { args: 0, options: ['--state', '--kind', '--limit'] },
  show: { args: 1, options: [] },
  cancel: { args: 1, options: ['--reason'] },
  retry: { args: 1, options: ['--reason'] },
  approve: { args: 1, options: ['--by', '--reject', '--input', '--reason', '--goto'] },
  reject: { args: 1, options: ['--by', '--reason', '--goto'] },
  status: { args: 0, options: [], flags: ['--exact'] },
  reap: { args: 0, options: [], flags: ['--dry-run'] },
  drain: { args: 1, options: ['--deadline-ms'] },
  purge: { args: 0, options: ['--older-than', '--state', '--limit'], flags: ['--dry-run'] },
};
const COMMANDS = [...Object.keys(SPECS), 'help', 'frobnicate', ''];
const OPTIONS = [...new Set(Object.values(SPECS).flatMap((s) => [...s.options, ...(s.flags ?? [])])), '--json', '--config', '-c', '--help', '--version', '--', '-', '--no-such-option', '-x'];
const VALUES = [
  '', ' ', 'x', 'echo', 'fz-1', 'fz-2', 'queued', 'succeeded', 'failed', 'cancelled', '0', '1', '-1', '1.5', '1e3', '0x10', 'NaN', 'Infinity',
  '9007199254740993', '99999999999999999999', '1000001', '30d', '1ms', 'soon', 'bad/kind', 'a'.repeat(65), 'a'.repeat(129), 'b'.repeat(3000),
  '[['.repeat(300) + ']]'.repeat(300), '['.repeat(20_000) + ']'.repeat(20_000), '{', '{}', '[]', 'null', '"s"', '{"a":1}', '@', '@/nonexistent/file.json', '@.', 'é', 'x\u0000y', 'line\nbreak', '../x', '*', '-5d', ' 12h', 'true',
];

/** Mostly well-formed command lines with odd values (they get past the parser), some pure noise. */
function vector(next: () => number): string[] {
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!;
  const command = pick(COMMANDS);
  const spec = SPECS[command];
  if (!spec || next() < 0.15) {
    const argv = [command].filter((c) => c !== '');
    for (let i = Math.floor(next() * 5); i > 0; i--) argv.push(next() < 0.5 ? pick(OPTIONS) : pick(VALUES));
    return argv;
  }
  const argv = [command];
  for (let i = 0; i < spec.args; i++) argv.push(next() < 0.5 ? pick(['echo', 'fz-1', 'fz-2']) : pick(VALUES));
  for (const option of spec.options) if (next() < 0.5) argv.push(option, next() < 0.3 ? pick(['echo', 'fz-1', '5', '30d', 'queued', '{"a":1}']) : pick(VALUES));
  for (const flag of spec.flags ?? []) if (next() < 0.5) argv.push(flag);
  if (next() < 0.5) argv.push('--json');
  return argv;
}

function capture(): Io & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    isTTY: false,
    out: (text: string) => void (io.stdout += text.endsWith('\n') ? text : `${text}\n`),
    err: (text: string) => void (io.stderr += text.endsWith('\n') ? text : `${text}\n`),
  };
  return io;
}

/** A command line for a test name: long values shortened. */
function short(argv: string[]): string {
  return argv.map((a) => (a.length > 24 ? `${a.slice(0, 8)}…(${a.length} chars)` : JSON.stringify(a))).join(' ');
}

/** The error a failed run reported: the `--json` error's message, or the first line on stderr. */
function errorLine(io: { stdout: string; stderr: string }): string {
  try {
    const parsed = JSON.parse(io.stdout) as { error?: { message?: string } };
    if (parsed.error?.message !== undefined) return parsed.error.message;
  } catch {
    // Not JSON: the error is on stderr.
  }
  return io.stderr.split('\n')[0] ?? '';
}

describe('reeve main() with generated argument vectors (in-process, fresh embedded store)', () => {
  let dir: { path: string; remove(): void };
  let config: string;
  const cwd = process.cwd();
  beforeAll(() => {
    dir = tempDir('reeve-fuzz-');
    config = join(dir.path, 'reeve.config.json');
    writeFileSync(config, JSON.stringify({ agents: { echo: { module: fixtureAgent('echo.ts') } } }));
    // A vector that drops `--config` must find this project, not the checkout's.
    process.chdir(dir.path);
  });
  afterAll(() => {
    process.chdir(cwd);
    dir.remove();
  });

  it.each([
    [['tasks', '--kind', ''], '--kind'],
    [['tasks', '--kind', 'bad/kind'], '--kind'],
    [['tasks', '--state', ''], '--state'],
    [['tasks', '--limit', '1e3'], '--limit'],
    [['show', ''], 'id'],
    [['show', 'a'.repeat(129)], 'id'],
    [['cancel', 'bad/id'], 'id'],
    [['retry', ' '], 'id'],
    [['approve', 'x', '--by', ''], '--by'],
    [['approve', 'x', '--reject', ' '], '--reject'],
    [['cancel', 'x', '--reason', ''], '--reason'],
    [['reject', 'x'], '--reason'],
    [['reject', 'x', '--reason', 'r', '--goto', 'bad step'], '--goto'],
    [['approve', 'x', '--goto', 'develop'], '--goto'],
    [['approve', 'x', '--input', '{'], '--input'],
    [['approve', 'x', '--reject', 'r', '--input', '{}'], '--input'],
    [['drain', 'no/such-node'], 'node'],
    [['submit', 'echo', '--priority', ''], '--priority'],
    [['submit', 'echo', '--priority', '1e3'], '--priority'],
    [['submit', 'echo', '--priority', '1000001'], '--priority'],
    [['submit', 'echo', '--input', '['.repeat(513) + ']'.repeat(513)], '--input'],
    [['submit', 'echo', '--input', '['.repeat(20_000) + ']'.repeat(20_000)], '--input'],
    [['--config', '', 'status'], '--config'],
  ].map(([argv, field]) => [short(argv as string[]), argv as string[], field as string] as const))('refuses %s with exit 2 and one JSON error naming %s', async (_label, argv, field) => {
    const io = capture();
    const code = await main([...(argv[0] === '--config' ? [] : ['--config', config]), ...argv, '--json'], io);
    expect(code, io.stdout + io.stderr).toBe(2);
    const { error } = JSON.parse(io.stdout) as { error: { code: string; message: string } };
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toContain(field);
    expect(error.message).not.toContain('\n');
  });

  it('accepts input nested exactly 512 levels deep', async () => {
    const io = capture();
    expect(await main(['--config', config, 'submit', 'echo', '--input', '['.repeat(512) + ']'.repeat(512), '--json'], io), io.stdout).toBe(0);
  });

  it('exits 0, 2, 3 or 4 for every vector (never 5), and every failure says what is wrong in one line', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20_251_204);
    const next = random(seed);
    const bad: string[] = [];
    for (let i = 0; i < 600; i++) {
      const argv = vector(next);
      const io = capture();
      const code = await main(['--config', config, ...argv], io);
      const line = code === 0 ? '' : errorLine(io);
      const wrong = ![0, 2, 3, 4].includes(code) ? `exited ${code}` : code !== 0 && (line.trim() === '' || line.includes('\n') || /\n\s+at /.test(io.stderr)) ? 'did not say what was wrong in one line' : undefined;
      if (wrong) bad.push(`${JSON.stringify(argv)} ${wrong}: ${io.stderr}${io.stdout}`.slice(0, 400));
    }
    expect(bad, `seed ${seed}`).toEqual([]);
  });
});
