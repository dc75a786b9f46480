/**
 * Reeve as users run it: a project directory with reeve.config.json and agent files, the real
 * CLI (`node bin/reeve.js start`, the compiled dist/) as its own OS process, and the public
 * client API (openReeveClient from dist/) to submit and read tasks.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sleep } from './common.mjs';

export const AGENTS = {
  noop: { module: './noop.mjs' },
  sleep: { module: './sleep.mjs' },
  true: { command: ['/bin/true'] },
};

/** Writes the project: config (`node` and `store`/`nats` sections given) and the agent files. */
export function writeProject(dir, config) {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'noop.mjs'), 'export default async function () { return null; }\n');
  writeFileSync(join(dir, 'sleep.mjs'), 'export default async function (input) { await new Promise((r) => setTimeout(r, input.ms)); return null; }\n');
  writeFileSync(join(dir, 'reeve.config.json'), JSON.stringify({ agents: AGENTS, ...config }, null, 2));
}

export async function client(ctx, dir) {
  const { openReeveClient } = await import(pathToFileURL(join(ctx.root, 'dist', 'index.js')).href);
  return openReeveClient(undefined, { cwd: dir, env: cleanEnv() });
}

export function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REEVE_')) env[k] = v;
  return { ...env, ...extra };
}

/**
 * `reeve start` in `dir`. With ctx.cpuProfDir, the node runs under `node --cpu-prof` (the
 * profile is written when it exits on SIGTERM).
 */
export function startNode(ctx, dir, env = {}) {
  const prof = ctx.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${ctx.cpuProfDir}`] : [];
  const child = spawn(process.execPath, [...prof, join(ctx.root, 'bin', 'reeve.js'), 'start'], { cwd: dir, env: cleanEnv(env), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-8000)));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    pid: child.pid,
    alive,
    stderr: () => stderr,
    async stop(signal = 'SIGTERM', graceMs = 30_000) {
      if (alive()) child.kill(signal);
      const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
    /** Throws (with its stderr) if the node died. */
    check() {
      if (!alive()) throw new Error(`reeve start exited early (${child.exitCode ?? child.signalCode}):\n${stderr}`);
    },
  };
}

/** Submits `n` tasks through the client, 500 in flight at a time; returns their ids. */
export async function submitAll(c, n, request) {
  const ids = [];
  for (let i = 0; i < n; i += 500) {
    const batch = await Promise.all(Array.from({ length: Math.min(500, n - i) }, () => c.submit(request)));
    for (const s of batch) ids.push(s.id);
  }
  return ids;
}

/** Start and end of a record from its history: first `running`, last `succeeded`. */
export function startEnd(record) {
  const start = record.history.find((h) => h.to === 'running')?.at;
  const end = record.history.findLast((h) => h.to === 'succeeded')?.at;
  return { start, end };
}

export { sleep };
