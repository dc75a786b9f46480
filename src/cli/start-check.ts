import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { delimiter, extname, join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { runnablesOf, isPathProgram, type RunnableRef } from '../config/check-files.ts';
import { ConfigError, type ConfigIssue } from '../config/errors.ts';
import type { Config } from '../config/schema.ts';

/**
 * `reeve start`'s check of every kind before it claims anything: each module must load and
 * have its export (default: `default`) as a function, and each command's program must be
 * found and executable, looked up as the child will be: on the PATH it gets (the kind's
 * `env.PATH`, else the node's PATH when `node.envAllowList` passes it on). A program written as
 * a path (./x, ../x, /abs) was resolved against the config file's directory; one written
 * `bin/tool` (a slash, no leading ./) is relative to the run's `cwd`, and to the task's
 * workspace when no `cwd` is set, which does not exist yet: that one is not checked.
 * `reeve start --no-check` skips all of this (for programs installed after the node starts).
 */
export async function checkKinds(config: Config, file: string | undefined, options: { loadTimeoutMs?: number } = {}): Promise<void> {
  const refs = runnablesOf(config);
  const modules = refs.filter((r) => r.type === 'module');
  const commands = refs.filter((r) => r.type === 'command');
  const issues = [
    ...(modules.length ? await moduleIssues(modules, options.loadTimeoutMs ?? 30_000) : []),
    ...(await Promise.all(commands.map((r) => commandIssue(r, config.node.envAllowList)))).filter((i): i is ConfigIssue => i !== undefined),
  ];
  if (issues.length) throw new ConfigError(file, issues);
}

/** load-probe next to this file, with this file's extension (.ts from source, .js once built). */
function probeUrl(): string {
  const self = new URL(import.meta.url);
  return new URL(`./load-probe${extname(self.pathname)}`, self).href;
}

const fix = (ref: RunnableRef) =>
  ref.exportName === 'default'
    ? 'export the agent from it: export default async function (input, ctx) { ... }'
    : `export a function named "${ref.exportName}" from it, or set "export" to the name it has`;

interface Loaded {
  file: string;
  exportName: string;
  type?: string;
  error?: string;
}

/**
 * Imports the modules in a worker thread, the way module-worker.ts does (TypeScript through
 * tsx's tsImport), and reports what each export is. Only module-level code runs (never the
 * agent), and the thread is ended afterwards, so a module's timers or handles stay out of the
 * node's own process.
 */
async function moduleIssues(refs: RunnableRef[], timeoutMs: number): Promise<ConfigIssue[]> {
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { tsx: import.meta.resolve('tsx/esm/api'), probe: probeUrl(), modules: refs.map((r) => ({ file: r.file, exportName: r.exportName })) },
    stdout: true,
    stderr: true,
  });
  let timer: NodeJS.Timeout | undefined;
  const results = await new Promise<Loaded[] | string>((done) => {
    worker.once('message', (m: Loaded[]) => done(m));
    // `on`, not `once`: a module's stray async throw after the answer must not go unhandled.
    worker.on('error', (err) => done(`loading failed: ${err.message}`));
    worker.once('exit', (code) => done(`a module ended the process while loading (exit code ${code}); module-level code must not call process.exit`));
    timer = setTimeout(() => done(`the modules did not finish loading within ${timeoutMs / 1000} s; module-level code must not wait (start it inside the agent function)`), timeoutMs);
  });
  clearTimeout(timer);
  await worker.terminate();
  if (typeof results === 'string') return refs.map((r) => ({ path: r.path, message: `${r.file}: ${results}` }));
  return refs.flatMap((ref, i): ConfigIssue[] => {
    const r = results[i]!;
    if (r.error !== undefined) return [{ path: ref.path, message: `${ref.file} cannot be loaded: ${r.error}; fix the module (or start with --no-check)` }];
    if (r.type === 'function') return [];
    const has = r.type === 'undefined' ? `has no export "${ref.exportName}"` : `exports "${ref.exportName}" as ${/^[aeiou]/.test(r.type ?? '') ? 'an' : 'a'} ${r.type}, not a function`;
    return [{ path: ref.path, message: `${ref.file} ${has}; ${fix(ref)} (kind ${ref.kind})` }];
  });
}

// Plain JavaScript, evaluated as the worker's script (no file to find); it loads load-probe,
// .ts under tsx as the runtime's worker is, or compiled .js.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
(async () => {
  const { tsImport } = await import(workerData.tsx);
  const { probe } = workerData.probe.endsWith('.ts') ? await tsImport(workerData.probe, workerData.probe) : await import(workerData.probe);
  const out = [];
  for (const { file, exportName } of workerData.modules) out.push({ file, exportName, ...(await probe(file, exportName)) });
  parentPort.postMessage(out);
})();
`;

async function isExecutableFile(path: string): Promise<boolean> {
  const info = await stat(path).catch(() => undefined);
  if (!info?.isFile()) return false;
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

async function commandIssue(ref: RunnableRef, envAllowList: readonly string[]): Promise<ConfigIssue | undefined> {
  const program = ref.file;
  if (program.includes('{{')) return undefined; // chosen per task: nothing to check yet
  if (isPathProgram(program)) {
    if (await isExecutableFile(program)) return undefined;
    return { path: ref.path, message: `${program} is not executable; run chmod +x ${program}, or run it through its interpreter, e.g. ["sh", "${program}"] (kind ${ref.kind})` };
  }
  if (program.includes('/')) {
    if (ref.cwd === undefined) return undefined; // relative to the task's workspace: unknown until it runs
    const full = resolve(ref.cwd, program);
    if (await isExecutableFile(full)) return undefined;
    return { path: ref.path, message: `${full} (${program} in cwd ${ref.cwd}) is not an executable file; fix the path or set cwd (kind ${ref.kind})` };
  }
  const PATH = ref.env?.PATH ?? (envAllowList.includes('PATH') ? process.env.PATH : undefined) ?? '/usr/bin:/bin';
  for (const dir of PATH.split(delimiter).filter(Boolean)) {
    if (await isExecutableFile(join(dir, program))) return undefined;
  }
  return {
    path: ref.path,
    message: `"${program}" is not found on PATH (${PATH}); install it, give its full path, or start with --no-check if it is installed later (kind ${ref.kind})`,
  };
}
