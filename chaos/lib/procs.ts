import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Every process a chaos run starts carries CHAOS_MARK=<this run's mark> in its environment:
 * the harness sets it on itself, so nodes, CLI calls and nats-servers inherit it, and the agent
 * configs pass it (with CHAOS_ROLE=agent) to command runs and everything they fork. A scan of
 * /proc then finds what is left of any run, even a grandchild in its own session, and the
 * cleanup kills it, whatever happened to the harness's own bookkeeping.
 */
export const MARK = `chaos-${process.pid}-${randomBytes(4).toString('hex')}`;
process.env.CHAOS_MARK = MARK;

export const reeveBin = fileURLToPath(new URL('../../bin/reeve.js', import.meta.url));
export const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

export interface MarkedProcess {
  pid: number;
  role: string;
  cmdline: string;
}

/** Live (non-zombie) processes carrying this run's mark, other than the harness itself. */
export function markedProcesses(role?: string): MarkedProcess[] {
  const found: MarkedProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
      if (!env.includes(`CHAOS_MARK=${MARK}`)) continue;
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) continue;
      const procRole = env.find((e) => e.startsWith('CHAOS_ROLE='))?.slice('CHAOS_ROLE='.length) ?? 'other';
      if (role !== undefined && procRole !== role) continue;
      found.push({ pid, role: procRole, cmdline: readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').join(' ').trim() });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return found;
}

/** SIGKILLs every marked process (of `role`, or all); returns how many it signalled. */
export function killMarked(role?: string): number {
  let n = 0;
  for (const p of markedProcesses(role)) {
    try {
      process.kill(p.pid, 'SIGKILL');
      n++;
    } catch {
      // gone
    }
  }
  return n;
}

process.once('exit', () => killMarked());
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    killMarked();
    process.exit(130);
  });
}

/** The environment without REEVE_* variables, so the host's settings do not leak in. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REEVE_')) env[k] = v;
  return { ...env, ...extra };
}

/** `reeve start` in its own process group (so a kill reaches the whole group), stderr kept. */
export interface NodeProc {
  child: ChildProcess;
  pid: number;
  /** Resolves with the exit code, or the signal name. */
  exited: Promise<number | string>;
  killedByUs: boolean;
  stderr(): string;
  running(): boolean;
  /** kill -9 of the node's whole process group. */
  kill9(): Promise<void>;
  /** SIGTERM (a drain), SIGKILL of the group after `graceMs`; resolves with the exit. */
  stop(graceMs?: number): Promise<number | string>;
}

export function startNode(cwd: string, env: Record<string, string> = {}): NodeProc {
  const child = spawn(process.execPath, [reeveBin, 'start'], { cwd, env: cleanEnv({ CHAOS_ROLE: 'node', ...env }), stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let done = false;
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => {
    done = true;
    resolve(code ?? signal ?? 'unknown');
  }));
  const group = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  const proc: NodeProc = {
    child,
    pid: child.pid!,
    exited,
    killedByUs: false,
    stderr: () => stderr,
    running: () => !done,
    kill9: async () => {
      proc.killedByUs = true;
      group('SIGKILL');
      await exited;
    },
    stop: async (graceMs = 15_000) => {
      proc.killedByUs = true;
      if (!done) child.kill('SIGTERM');
      const timer = setTimeout(() => group('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
  return proc;
}

export interface CliRun {
  code: number | string;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** The real `reeve` binary with plain node in `cwd`; its process group is killed after `timeoutMs`. */
export function runCli(cwd: string, args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [reeveBin, ...args], { cwd, env: cleanEnv({ CHAOS_ROLE: 'cli', ...options.env }), detached: true });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, options.timeoutMs ?? 20_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal ?? 'unknown', stdout, stderr, timedOut });
    });
  });
}

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

/** The pino JSON lines of a node's stderr (anything else is ignored). */
export function logLines(stderr: string): LogLine[] {
  const lines: LogLine[] = [];
  for (const text of stderr.split('\n')) {
    if (!text.startsWith('{')) continue;
    try {
      const line = JSON.parse(text) as LogLine;
      if (typeof line.level === 'number') lines.push(line);
    } catch {
      // a line cut by a kill -9
    }
  }
  return lines;
}

/** A log line that carries a stack trace anywhere in it. */
export function hasStack(line: LogLine): boolean {
  return /"stack"\s*:|\n\s+at /.test(JSON.stringify(line));
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
