import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './temp-dir.ts';

export const reeveBin = fileURLToPath(new URL('../../bin/reeve.js', import.meta.url));

/** The environment without REEVE_* variables, so the host's settings do not leak in. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REEVE_')) env[k] = v;
  return { ...env, ...extra };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `reeve` binary with plain node in `cwd`. */
export function reeve(cwd: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [reeveBin, ...args], { cwd, env: cleanEnv(env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts `reeve start` (with `args`) as its own OS process. */
export function startReeve(
  cwd: string,
  env: Record<string, string> = {},
  args: string[] = [],
): ChildProcess & { exited: Promise<number | null>; stderrText(): string; stdoutText(): string } {
  const child = spawn(process.execPath, [reeveBin, 'start', ...args], { cwd, env: cleanEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  let stdout = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return Object.assign(child, { exited, stderrText: () => stderr, stdoutText: () => stdout });
}

/** A temp project directory with a reeve.config.json. */
export function project(config: object): { dir: string; remove(): void } {
  const d = tempDir('reeve-cli-');
  writeFileSync(join(d.path, 'reeve.config.json'), JSON.stringify(config, null, 2));
  return { dir: d.path, remove: () => d.remove() };
}
