import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv } from '../support/cli.ts';
import { tempDir } from '../support/temp-dir.ts';

/**
 * The package as a user gets it: `npm pack` (which builds dist/ through `prepare`), then the
 * tarball installed into a fresh `npm init -y` project (CommonJS by default), used from there.
 *
 * One shortcut, for time only: better-sqlite3 compiles from source on install here (no prebuilt
 * download, ~2 min), so its installed copy (and its dependencies) is hard-linked from this
 * checkout into the project first; npm keeps a package already present at the right version.
 * Every other dependency installs from the npm cache like any user's install.
 */
const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> }> };

let work: { path: string; remove(): void };
let app: string;
let installLog = '';

function sh(cmd: string, args: string[], cwd: string, timeout = 120_000) {
  return run(cmd, args, { cwd, env: cleanEnv({ npm_config_update_notifier: 'false' }), timeout, maxBuffer: 16 * 1024 * 1024 });
}

/** Hard-links `name` and what it depends on (per the lockfile) from this checkout's node_modules. */
function seed(name: string, into: string, seen = new Set<string>()): void {
  if (seen.has(name)) return;
  seen.add(name);
  linkTree(join(ROOT, 'node_modules', name), join(into, 'node_modules', name));
  const entry = lock.packages[`node_modules/${name}`];
  for (const dep of Object.keys({ ...entry?.dependencies, ...entry?.optionalDependencies })) seed(dep, into, seen);
}

function linkTree(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const e of readdirSync(from, { withFileTypes: true })) {
    if (e.isDirectory()) linkTree(join(from, e.name), join(to, e.name));
    else if (e.isFile()) linkSync(join(from, e.name), join(to, e.name));
  }
}

beforeAll(async () => {
  work = tempDir('reeve-pack-');
  // Packed from a copy, so the build `npm pack` runs never rewrites the dist/ other test files use.
  const source = join(work.path, 'source');
  for (const p of ['package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json', 'README.md', 'bin', 'scripts', 'src', 'docs', 'examples']) cpSync(join(ROOT, p), join(source, p), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(source, 'node_modules'));
  const { stdout } = await sh('npm', ['pack', '--json', '--pack-destination', work.path], source);
  const packed = JSON.parse(stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  const files = packed[0]!.files.map((f) => f.path);
  expect(files).toEqual(expect.arrayContaining(['bin/reeve.js', 'dist/index.js', 'dist/index.d.ts', 'dist/agent.js', 'dist/agent.d.ts', 'dist/cli/main.js', 'dist/pool/module-worker.js']));

  app = join(work.path, 'app');
  mkdirSync(app);
  await sh('npm', ['init', '-y'], app);
  seed('better-sqlite3', app);
  const installed = await sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work.path, packed[0]!.filename)], app, 150_000);
  installLog = installed.stdout + installed.stderr;
  // For the consumer's type check: TypeScript 5 from this checkout, @types/node 20 beside it.
  seed('@types/node', app);
}, 240_000);

afterAll(() => work?.remove());

describe('the packed package in a fresh npm init -y project', () => {
  it('installs on Node 20 with no EBADENGINE warning', () => {
    expect((JSON.parse(readFileSync(join(app, 'package.json'), 'utf8')) as { type?: string }).type ?? 'commonjs').toBe('commonjs');
    expect(existsSync(join(app, 'node_modules/reeve/dist/index.js'))).toBe(true);
    expect(installLog).not.toMatch(/EBADENGINE/);
  });

  it('imports reeve and reeve/agent with plain node, from ESM and from CommonJS', async () => {
    const esm = await sh(process.execPath, ['--input-type=module', '-e', "import * as r from 'reeve'; import * as a from 'reeve/agent'; console.log(typeof r.openReeveClient, typeof r.defineConfig, Object.keys(a).sort().join())"], app);
    expect(esm.stdout.trim()).toBe('function function PermanentError,TransientError');
    const cjs = await sh(process.execPath, ['-e', "console.log(typeof require('reeve/agent').TransientError)"], app);
    expect(cjs.stdout.trim()).toBe('function');
  });

  it('runs a .ts agent importing reeve/agent under npx reeve start; npx reeve submit --wait exits 0', async () => {
    mkdirSync(join(app, 'agents'), { recursive: true });
    writeFileSync(
      join(app, 'agents/echo.ts'),
      [
        "import { TransientError, type AgentContext } from 'reeve/agent';",
        'export default async function echo(input: { message?: string } | undefined, ctx: AgentContext) {',
        "  if (ctx.attempt === 1) throw new TransientError('once more', { retryAfterMs: 10 });",
        '  return { echo: input?.message ?? null, attempt: ctx.attempt };',
        '}',
      ].join('\n'),
    );
    writeFileSync(join(app, 'reeve.config.json'), JSON.stringify({ agents: { echo: { module: './agents/echo.ts', retry: { transient: { baseMs: 10, maxMs: 20 } } } } }));
    // Its own process group: npx's pid is not the node's, so the test stops the whole group.
    const node = spawn('npx', ['reeve', 'start'], { cwd: app, env: cleanEnv(), stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    node.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    // Closed when every process of the group holding it (npx and the node) has exited.
    const closed = new Promise<void>((resolve) => node.stderr!.on('close', resolve));
    try {
      const submitted = await sh('npx', ['reeve', 'submit', 'echo', '--input', '{"message":"hi"}', '--wait', '--json'], app, 60_000);
      expect(JSON.parse(submitted.stdout)).toMatchObject({ state: 'succeeded', result: { echo: 'hi', attempt: 2 } });
    } finally {
      process.kill(-node.pid!, 'SIGTERM');
    }
    await closed;
    expect(stderr).toMatch(/"exitCode":0,.*"msg":"node drained and stopped"/);
  }, 90_000);

  it("type-checks a consumer .mts module (TypeScript 5, module nodenext) using defineConfig, openReeveClient and reeve/agent", async () => {
    writeFileSync(
      join(app, 'consumer.mts'),
      [
        "import { defineConfig, openReeveClient, type TaskRecord } from 'reeve';",
        "import { PermanentError, TransientError, type AgentContext } from 'reeve/agent';",
        "export const config = defineConfig({ agents: { echo: { module: './agents/echo.ts', timeoutMs: 60_000 } } });",
        'export async function agent(input: unknown, ctx: AgentContext): Promise<string> {',
        "  if (ctx.signal.aborted) throw new TransientError('stopped', { retryAfterMs: 1000 });",
        "  if (input === null) throw new PermanentError('no input');",
        '  return ctx.taskId;',
        '}',
        'export async function submit(): Promise<TaskRecord> {',
        '  const client = await openReeveClient(config);',
        "  const { id } = await client.submit({ kind: 'echo', input: { message: 'hi' } });",
        '  for await (const change of client.events(id)) console.log(change.to);',
        '  const done = await client.wait(id, { onChange: (c) => console.log(c.from, c.to) });',
        '  await client.close();',
        '  return done;',
        '}',
      ].join('\n'),
    );
    const tsconfig = { compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', strict: true, skipLibCheck: true, noEmit: true, types: ['node'] }, files: ['consumer.mts'] };
    writeFileSync(join(app, 'tsconfig.json'), JSON.stringify(tsconfig));
    const tsc = join(ROOT, 'node_modules/typescript5/bin/tsc');
    const version = await sh(process.execPath, [tsc, '--version'], app);
    expect(version.stdout).toMatch(/^Version 5\./);
    await expect(sh(process.execPath, [tsc, '-p', 'tsconfig.json'], app)).resolves.toBeDefined();
    // And it does check: a wrong type fails.
    writeFileSync(join(app, 'consumer.mts'), "import { TransientError } from 'reeve/agent';\nexport const n: number = new TransientError('x');\n");
    await expect(sh(process.execPath, [tsc, '-p', 'tsconfig.json'], app)).rejects.toMatchObject({ stdout: expect.stringContaining('TS2322') });
  }, 60_000);
});
