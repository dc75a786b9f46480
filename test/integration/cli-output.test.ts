import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { cleanEnv, project, reeve, reeveBin } from '../support/cli.ts';
import { fixtureAgent } from '../support/test-node.ts';

const TASKS = 2000;
const args = ['tasks', '--json', '--limit', String(TASKS)];

/** Runs the real binary with stdout on `stdout` (an fd or 'pipe'); resolves with its exit code and stderr. */
function run(cwd: string, command: string, argv: string[], stdout: number | 'pipe', onStdout?: (chunk: Buffer) => void): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { cwd, env: cleanEnv(), stdio: ['ignore', stdout, 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    if (onStdout) child.stdout!.on('data', onStdout);
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

function expectWhole(text: string): void {
  const list = JSON.parse(text) as Array<{ id: string }>;
  expect(list).toHaveLength(TASKS);
  expect(new Set(list.map((t) => t.id)).size).toBe(TASKS);
}

describe('reeve output arrives whole (the real binary, ~1 MB of --json)', () => {
  let p: { dir: string; remove(): void };
  beforeAll(async () => {
    p = project({ agents: { echo: { module: fixtureAgent('echo.ts') } } });
    const store = openSqliteTaskStore({ path: join(p.dir, '.reeve', 'reeve.db'), clock: { now: () => Date.now() } });
    for (let i = 0; i < TASKS; i++) await store.submit({ id: `big-${i}`, kind: 'echo', input: { text: 'x'.repeat(400), i } });
    await store.close();
  });
  afterAll(() => p.remove());

  it('on a pipe, past the 64 KiB pipe buffer', async () => {
    const r = await reeve(p.dir, args);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(1_000_000);
    expectWhole(r.stdout);
  });

  it('on a pipe whose reader stops reading for a while', async () => {
    const chunks: Buffer[] = [];
    let paused = false;
    const child = spawn(process.execPath, [reeveBin, ...args], { cwd: p.dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (paused) return;
      // Take the first chunk, then let the writer find the pipe full until it has long finished writing.
      paused = true;
      child.stdout.pause();
      setTimeout(() => child.stdout.resume(), 1500);
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(0);
    expectWhole(Buffer.concat(chunks).toString());
  });

  it('to a file', async () => {
    const file = join(p.dir, 'tasks.json');
    const fd = openSync(file, 'w');
    try {
      const r = await run(p.dir, process.execPath, [reeveBin, ...args], fd);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      closeSync(fd);
    }
    expectWhole(readFileSync(file, 'utf8'));
  });

  it('on a terminal (a pseudo-TTY from util-linux script)', async () => {
    let out = '';
    const command = [process.execPath, reeveBin, ...args].map((a) => `'${a}'`).join(' ');
    const r = await run(p.dir, 'script', ['-qec', command, '/dev/null'], 'pipe', (d) => (out += d.toString()));
    expect(r.code, r.stderr).toBe(0);
    // The terminal turns each "\n" into "\r\n".
    expectWhole(out.replace(/\r\n/g, '\n'));
  });

  it('exits quietly with the command exit code when the reader goes away (| head -c 10)', async () => {
    const child = spawn(process.execPath, [reeveBin, ...args], { cwd: p.dir, env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});
