import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openReeveClient } from '../../src/index.ts';
import { cleanEnv, reeveBin } from '../support/cli.ts';
import { tempDir } from '../support/temp-dir.ts';

const RECORD = fileURLToPath(new URL('../fixtures/loads/record.mjs', import.meta.url));
let dir: { path: string; remove(): void };
let taskId = '';

/** Runs the real CLI (dist/) with a loader hook that records every module URL it loads. */
function loadsOf(args: string[], cwd = dir.path): string[] {
  const file = join(dir.path, `loads-${Math.random().toString(36).slice(2)}.txt`);
  const run = spawnSync(process.execPath, ['--import', RECORD, reeveBin, ...args], { cwd, env: cleanEnv({ RECORD_LOADS: file }), encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  return existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n') : [];
}

/** Runs `reeve start` (with `args`) under the same hook until it is running, stops it with SIGTERM. */
async function startLoadsOf(args: string[], cwd = dir.path): Promise<string[]> {
  const file = join(dir.path, `loads-${Math.random().toString(36).slice(2)}.txt`);
  const child = spawn(process.execPath, ['--import', RECORD, reeveBin, 'start', ...args], { cwd, env: cleanEnv({ RECORD_LOADS: file }), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  const until = Date.now() + 30_000;
  while (!/running \(/.test(stderr)) {
    if (child.exitCode !== null || Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`reeve start did not come up:\n${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  child.kill('SIGTERM');
  expect(await exited, stderr).toBe(0);
  return readFileSync(file, 'utf8').trim().split('\n');
}

const loaded = (urls: string[], pattern: RegExp) => urls.filter((u) => pattern.test(u));
const INSPECTION = /node_modules\/(@statelyai\/inspect|ws|partysocket|superjson|isomorphic-ws)\/|\/dist\/http\/inspect\//;
const HEAVY_FOR_VERSION = /node_modules\/(zod|better-sqlite3|@nats-io|piscina|tsx|xstate|pino|execa)\/|\/dist\/(config|store|node|pool)\//;
const NOT_FOR_READS = /node_modules\/(@nats-io|piscina|tsx|execa)\/|\/dist\/(pool|agent)[./]|\/fixtures\/agents\//;

beforeAll(async () => {
  dir = tempDir('reeve-loads-');
  // A .ts agent configured: reading commands must not load it, nor tsx.
  writeFileSync(join(dir.path, 'reeve.config.json'), JSON.stringify({ agents: { echo: { module: fileURLToPath(new URL('../fixtures/agents/echo.ts', import.meta.url)) } } }));
  const client = await openReeveClient(undefined, { cwd: dir.path, env: {} });
  taskId = (await client.submit({ kind: 'echo' })).id;
  await client.close();
});
afterAll(() => dir.remove());

describe('what a CLI command loads', () => {
  it('sees the modules it records (the hook works)', () => {
    expect(loaded(loadsOf(['status', '--json']), /node_modules\/better-sqlite3\//).length).toBeGreaterThan(0);
  });

  it('--version loads neither the config schema (zod) nor any store, runtime or agent module', () => {
    const urls = loadsOf(['--version']);
    expect(urls.some((u) => u.endsWith('/dist/cli/main.js'))).toBe(true);
    expect(loaded(urls, HEAVY_FOR_VERSION)).toEqual([]);
  });

  it.each([[['status', '--json']], [['show', 'TASK', '--json']], [['show', 'TASK']], [['tasks']], [['tasks', '--json']]])('%j on an embedded store loads no NATS client, piscina, execa, tsx nor agent', (args) => {
    expect(loaded(loadsOf(args.map((a) => (a === 'TASK' ? taskId : a))), NOT_FOR_READS)).toEqual([]);
  });

  it('reads a .js or .mjs config with plain node: tsx only for a .ts one', () => {
    const js = tempDir('reeve-loads-js-');
    try {
      writeFileSync(join(js.path, 'package.json'), '{"type":"module"}');
      writeFileSync(join(js.path, 'reeve.config.js'), `export default { store: { path: ${JSON.stringify(join(js.path, 'r.db'))} } };`);
      const urls = loadsOf(['status', '--json', '--config', 'reeve.config.js'], js.path);
      expect(urls.some((u) => u.endsWith('/reeve.config.js'))).toBe(true);
      expect(loaded(urls, /node_modules\/tsx\//)).toEqual([]);
    } finally {
      js.remove();
    }
  });

  it('still reads an ES-module .js config in a CommonJS package (through tsx)', () => {
    const js = tempDir('reeve-loads-cjs-');
    try {
      writeFileSync(join(js.path, 'package.json'), '{"type":"commonjs"}');
      writeFileSync(join(js.path, 'reeve.config.js'), `export default { store: { path: ${JSON.stringify(join(js.path, 'r.db'))} } };`);
      expect(loaded(loadsOf(['status', '--json', '--config', 'reeve.config.js'], js.path), /node_modules\/tsx\//).length).toBeGreaterThan(0);
    } finally {
      js.remove();
    }
  });

  it('reeve start without --inspect loads neither @statelyai/inspect nor ws, with or without HTTP; with --inspect it does', async () => {
    const http = tempDir('reeve-loads-http-');
    try {
      writeFileSync(join(http.path, 'reeve.config.json'), JSON.stringify({ node: { dataDir: '.reeve' }, http: { port: 0 } }));
      expect(loaded(await startLoadsOf([], http.path), INSPECTION)).toEqual([]);
      const on = loaded(await startLoadsOf(['--inspect'], http.path), INSPECTION);
      expect(on.some((u) => u.includes('/@statelyai/inspect/'))).toBe(true);
      expect(on.some((u) => u.includes('/node_modules/ws/'))).toBe(true);
    } finally {
      http.remove();
    }
    expect(loaded(await startLoadsOf([]), INSPECTION)).toEqual([]);
  }, 90_000);
});
