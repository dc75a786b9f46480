import { mkdir } from 'node:fs/promises';
import { execa } from 'execa';
import { classifyFailure } from '../machines/failure-classifier.ts';
import type { Clock } from '../ports/clock.ts';
import type { AbortReason, RunOutcome, RunRequest } from '../ports/runner.ts';
import type { Json } from '../protocol/task.ts';
import { expandArgs, PlaceholderError } from './placeholders.ts';

export interface CommandRunnerOptions {
  clock: Clock;
  /** Environment variables passed through to every command (plus the kind's own `env`). */
  envAllowList: readonly string[];
  /** Lines of output kept for classification and `reeve show`. */
  tailLines?: number;
}

type Stop = { kind: 'abort'; reason: AbortReason } | { kind: 'timeout'; message: string };

/**
 * Runs command agents as child processes in their own process group (never through a shell),
 * and stops them by signalling the whole group: SIGTERM, `killGraceMs`, then SIGKILL.
 * The durable process registry and the reaper come with the command-agent issue.
 */
export class CommandRunner {
  constructor(private readonly options: CommandRunnerOptions) {}

  async run(req: RunRequest): Promise<RunOutcome> {
    if (req.handler.type !== 'command') throw new Error('CommandRunner runs command handlers only');
    let args: string[];
    try {
      args = expandArgs(req.handler.command, req.input);
    } catch (err) {
      if (err instanceof PlaceholderError) return { ok: false, failure: { class: 'permanent', code: 'BAD_PLACEHOLDER', message: err.message } };
      throw err;
    }
    const [file, ...rest] = args as [string, ...string[]];
    const env: Record<string, string> = {};
    for (const name of this.options.envAllowList) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    Object.assign(env, req.handler.env, { REEVE_TASK_ID: req.taskId, REEVE_STEP: req.step, REEVE_ATTEMPT: String(req.attempt), REEVE_WORKSPACE: req.workspace });

    if (req.handler.cwd === undefined) await mkdir(req.workspace, { recursive: true });
    const child = execa(file, rest, {
      cwd: req.handler.cwd ?? req.workspace,
      env,
      extendEnv: false,
      detached: true, // its own process group, so a stop reaches grandchildren too
      reject: false,
      stdin: req.handler.stdin === 'json' ? 'pipe' : 'ignore',
      all: true,
      buffer: false,
    });
    if (req.handler.stdin === 'json') {
      child.stdin?.on('error', () => {}); // a command that never reads stdin closes it early
      child.stdin?.end(JSON.stringify(req.input ?? null));
    }
    const tail: string[] = [];
    const keep = this.options.tailLines ?? 50;
    let partial = '';
    child.all?.setEncoding('utf8');
    child.all?.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      // Output without newlines must not grow without bound: keep the last 64 KiB of a line.
      partial = (lines.pop() ?? '').slice(-65_536);
      for (const line of lines) {
        tail.push(line);
        if (tail.length > keep) tail.shift();
      }
    });

    let stop: Stop | undefined;
    const timers: NodeJS.Timeout[] = [];
    const signal = (name: NodeJS.Signals) => {
      const err = signalGroup(child.pid, name);
      if (err) req.log.error({ err, pid: child.pid, signal: name }, 'cannot signal the run’s process group');
    };
    const stopRun = (why: Stop) => {
      if (stop) return;
      stop = why;
      signal('SIGTERM');
      timers.push(setTimeout(() => signal('SIGKILL'), req.killGraceMs));
    };
    const onAbort = () => stopRun({ kind: 'abort', reason: (req.signal.reason as AbortReason) ?? 'cancel' });
    if (req.signal.aborted) onAbort();
    else req.signal.addEventListener('abort', onAbort, { once: true });
    if (req.timeoutMs !== undefined) {
      const ms = req.timeoutMs;
      timers.push(setTimeout(() => stopRun({ kind: 'timeout', message: `timed out after ${ms} ms (timeoutMs)` }), ms));
    }
    // A living process proves liveness; the node renews the lease meanwhile.
    const beat = setInterval(() => req.onHeartbeat(), 5000);
    try {
      const result = await child;
      if (partial) tail.push(partial);
      // The direct child is gone; make sure nothing it started outlives the run.
      signal('SIGKILL');
      if (stop?.kind === 'timeout') return { ok: false, failure: { class: 'timeout', code: 'RUN_TIMED_OUT', message: `${stop.message}\n${tail.slice(-5).join('\n')}`.trim() } };
      if (stop?.kind === 'abort') return { ok: false, failure: { class: 'cancelled', message: `run stopped: ${stop.reason}` }, aborted: stop.reason };
      const logTail = tail.join('\n');
      if (result.exitCode === 0) return { ok: true, output: lastLineJson(tail) ?? { exitCode: 0, logTail } };
      const failure = result.failed && result.exitCode === undefined
        ? { class: 'permanent' as const, code: 'SPAWN_FAILED', message: `cannot run ${file}: ${result.shortMessage ?? result.message}` }
        : classifyFailure({
            message: `${file} exited with code ${result.exitCode ?? result.signal}\n${tail.slice(-20).join('\n')}`,
            ...(result.exitCode === undefined ? {} : { exitCode: result.exitCode }),
            patterns: req.retryOn,
            now: this.options.clock.now(),
          });
      return { ok: false, failure };
    } finally {
      timers.forEach(clearTimeout);
      clearInterval(beat);
      req.signal.removeEventListener('abort', onAbort);
    }
  }

  async close(): Promise<void> {}
}

/**
 * Signals a run's whole process group. ESRCH (already gone) is the normal end of a kill; any
 * other error (EPERM: a setuid program leads the group) is returned for the caller to report,
 * never thrown: this runs in timers and abort listeners, where a throw would crash the node.
 */
export function signalGroup(pid: number | undefined, signal: NodeJS.Signals): Error | undefined {
  if (pid === undefined || pid <= 1 || pid === process.pid) return undefined;
  try {
    process.kill(-pid, signal);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH' ? undefined : (err as Error);
  }
}

function lastLineJson(lines: readonly string[]): Json | undefined {
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line) continue;
    try {
      return JSON.parse(line) as Json;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
