import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { execa } from 'execa';
import { classifyFailure } from '../machines/failure-classifier.ts';
import type { Clock } from '../ports/clock.ts';
import type { ProcessRegistry } from '../ports/process-registry.ts';
import type { AbortReason, RunOutcome, RunRequest } from '../ports/runner.ts';
import type { Json } from '../protocol/task.ts';
import { killRunTree } from './kill-tree.ts';
import { expandArgs, PlaceholderError } from './placeholders.ts';
import { LeftoverSweep } from './leftover-sweep.ts';
import { cpuTicksOf, processesIn, readProcStat, type FinishedRun, type ProcStat } from './proc.ts';
import { openRunLog } from './run-log.ts';

export interface CommandRunnerOptions {
  clock: Clock;
  /** Environment variables passed through to every command (plus the kind's own `env`). */
  envAllowList: readonly string[];
  /** Lines of output kept for classification and `reeve show`. */
  tailLines?: number;
  /** Durable record of every spawn, written before it (the reaper's source). */
  registry?: ProcessRegistry;
  /** Who spawns: recorded with each process so a later incarnation can reap it. */
  owner?: { nodeId: string; incarnation: string };
  /** Never signalled, even inside a run's tree (this process and its ancestors always are). */
  protectedPids?: readonly number[];
  /** Per-run log files (rotated by size) go here; none when absent. */
  logDir?: string;
  /** Values redacted from logs and log tails. */
  secrets?: readonly string[];
}

type Stop = { kind: 'abort'; reason: AbortReason } | { kind: 'timeout'; message: string };

/**
 * Runs command agents as child processes in their own process group and session (never through
 * a shell). Every spawn is recorded durably before it happens and identified by pid + start
 * time after; a stop (timeout, cancel, lost lease, drain) kills the whole tree — SIGTERM,
 * `killGraceMs`, SIGKILL, then a /proc walk for anything that escaped — and a run's registry row
 * is cleared only once its tree is confirmed gone; otherwise it is left to the reaper.
 */
export class CommandRunner {
  readonly #sweep = new LeftoverSweep();
  readonly #settling = new Set<Promise<void>>();

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
    const runId = `${req.taskId}.${randomBytes(4).toString('hex')}`;
    const registry = this.options.registry;
    if (registry && this.options.owner) {
      try {
        await registry.recordIntent({ runId, taskId: req.taskId, ...this.options.owner, command: args.join(' ') });
      } catch (err) {
        // No durable record, no spawn: a process nobody could reap is worse than a retry.
        return { ok: false, failure: { class: 'transient', code: 'REGISTRY_UNAVAILABLE', message: `cannot record the run before spawning it: ${(err as Error).message}` } };
      }
    }
    const env: Record<string, string> = {};
    for (const name of this.options.envAllowList) {
      const value = process.env[name];
      if (value !== undefined) env[name] = value;
    }
    Object.assign(env, req.handler.env, { REEVE_TASK_ID: req.taskId, REEVE_STEP: req.step, REEVE_ATTEMPT: String(req.attempt), REEVE_WORKSPACE: req.workspace, REEVE_RUN_ID: runId });
    if (req.handler.cwd === undefined) await mkdir(req.workspace, { recursive: true });

    const log = openRunLog({
      dir: this.options.logDir ?? req.workspace,
      runId,
      secrets: this.options.secrets ?? [],
      tailLines: this.options.tailLines ?? 50,
      onError: (err) => req.log.warn({ err }, 'run log unwritable; output is dropped'),
    });
    const child = execa(file, rest, {
      cwd: req.handler.cwd ?? req.workspace,
      env,
      extendEnv: false,
      detached: true, // own process group and session, so a stop reaches grandchildren too
      reject: false,
      stdin: req.handler.stdin === 'json' ? 'pipe' : 'ignore',
      buffer: false,
    });
    if (req.handler.stdin === 'json') {
      child.stdin?.on('error', () => {}); // a command that never reads stdin closes it early
      child.stdin?.end(JSON.stringify(req.input ?? null));
    }
    // The result is the last stdout line: kept apart from the log tail, which interleaves stderr.
    let stdoutTail = '';
    let outputAt = Date.now();
    child.stdout?.on('data', (chunk: Buffer) => {
      outputAt = Date.now();
      log.write('stdout', chunk);
      stdoutTail = (stdoutTail + chunk.toString('utf8')).slice(-65_536);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      outputAt = Date.now();
      log.write('stderr', chunk);
    });

    const pid = child.pid;
    const rootStat = pid === undefined ? undefined : readProcStat(pid);
    if (registry && pid !== undefined && rootStat) {
      await registry.recordSpawned(runId, { pid, pgid: pid, sid: pid, starttime: rootStat.starttime }).catch((err: unknown) => {
        // The intent row stays; the reaper finds the process by its REEVE_RUN_ID.
        req.log.error({ err, runId }, 'cannot record the spawned pid');
      });
    }
    const killTree = (graceMs: number) =>
      pid === undefined
        ? Promise.resolve({ survivors: [] as Array<{ pid: number; reason: string }> })
        : killRunTree({ pgid: pid, sid: pid, rootPid: pid, rootStarttime: rootStat?.starttime, graceMs, protectedPids: this.options.protectedPids ?? [], log: req.log });

    let stop: Stop | undefined;
    let stopping: Promise<unknown> | undefined;
    const stopRun = (why: Stop) => {
      if (stop) return;
      stop = why;
      stopping = killTree(req.killGraceMs);
    };
    const onAbort = () => stopRun({ kind: 'abort', reason: (req.signal.reason as AbortReason) ?? 'cancel' });
    if (req.signal.aborted) onAbort();
    else req.signal.addEventListener('abort', onAbort, { once: true });
    const timer = req.timeoutMs === undefined ? undefined : setTimeout(() => stopRun({ kind: 'timeout', message: `timed out after ${req.timeoutMs} ms (timeoutMs)` }), req.timeoutMs);
    // A living process proves liveness; the node renews the lease meanwhile.
    const beat = setInterval(() => req.onHeartbeat(), 5000);
    const idle = req.idleTimeoutMs === undefined || pid === undefined ? undefined : watchIdle(pid, req.idleTimeoutMs, () => outputAt, (ms) => stopRun({ kind: 'timeout', message: `no output and no CPU time for ${ms} ms (idleTimeoutMs): the run looks wedged` }));
    // The execa promise does not settle while a grandchild holds the output pipes: once the
    // direct child has exited, whatever is left in its group is killed.
    child.once('exit', () => {
      if (!stop && pid !== undefined && groupMayLive(pid)) stopping = killTree(200);
    });
    try {
      const result = await child;
      await stopping;
      if (pid !== undefined) this.#settle({ runId, pgid: pid, sid: pid, rootStarttime: rootStat?.starttime ?? 0 }, req.log);
      else if (registry) await registry.clear(runId).catch(() => undefined);
      await log.close();
      const tail = log.tail();
      if (stop?.kind === 'timeout') return { ok: false, failure: { class: 'timeout', code: 'RUN_TIMED_OUT', message: `${stop.message}\n${tail.slice(-5).join('\n')}`.trim() } };
      if (stop?.kind === 'abort') return { ok: false, failure: { class: 'cancelled', message: `run stopped: ${stop.reason}` }, aborted: stop.reason };
      if (result.exitCode === 0) return { ok: true, output: lastLineJson(stdoutTail.split('\n')) ?? { exitCode: 0, logTail: tail.join('\n') } };
      if (result.failed && result.exitCode === undefined) {
        return { ok: false, failure: { class: 'permanent', code: 'SPAWN_FAILED', message: `cannot run ${file}: ${result.shortMessage ?? result.message}; check that it exists and is executable (PATH is ${env.PATH ?? 'unset'})` } };
      }
      return {
        ok: false,
        failure: classifyFailure({
          message: `${file} exited with ${result.exitCode ?? result.signal}\n${tail.slice(-20).join('\n')}`,
          ...(result.exitCode === undefined ? {} : { exitCode: result.exitCode }),
          patterns: req.retryOn,
          now: this.options.clock.now(),
        }),
      };
    } finally {
      clearTimeout(timer);
      clearInterval(beat);
      clearInterval(idle);
      req.signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * A run leaves no process behind, and its row is cleared only once that is confirmed. A helper
   * that let go of the output pipes may live on in the root's group, in another group of its
   * session (job control) or in a session of its own (setsid(); found by REEVE_RUN_ID): the
   * shared sweep finds them, they are killed, and the row is cleared or handed to the reaper.
   * This happens after the outcome is returned, so a run does not wait for a /proc pass.
   */
  #settle(run: FinishedRun, log: RunRequest['log']): void {
    const registry = this.options.registry;
    const kill = (members: readonly ProcStat[]) =>
      killRunTree({ pgid: run.pgid, sid: run.sid, members, graceMs: 200, protectedPids: this.options.protectedPids ?? [], log });
    const settling = (async () => {
      let left = await this.#sweep.find(run);
      if (left.length > 0) {
        await kill(left);
        left = await this.#sweep.find(run);
      }
      if (left.length > 0) log.warn({ runId: run.runId, pids: left.map((s) => s.pid) }, 'processes of a finished run survived its kill; the reaper takes them over');
      if (registry) await (left.length === 0 ? registry.clear(run.runId) : registry.markHandoff(run.runId));
    })().catch((err: unknown) => log.error({ err, runId: run.runId }, 'settling a finished run failed; its registry row stays for the reaper'));
    this.#settling.add(settling);
    void settling.finally(() => this.#settling.delete(settling));
  }

  /** Waits until every finished run is settled (its leftovers killed, its row cleared or handed off). */
  async close(): Promise<void> {
    while (this.#settling.size > 0) await Promise.allSettled([...this.#settling]);
  }
}

/**
 * A cheap first look before walking /proc (a walk reads every process's stat: ~2 ms here):
 * ESRCH from signal 0 to the group means nobody is left in it. Zombies still answer, so a yes
 * is only a maybe, and the walk decides.
 */
function groupMayLive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * Liveness beyond "the pid exists" and "it printed something": a run is idle only when its
 * whole tree shows neither output nor CPU-time growth (/proc utime+stime) for `idleMs`, so a
 * silent agent that is thinking is not killed while a wedged one is.
 */
function watchIdle(pgid: number, idleMs: number, lastOutputAt: () => number, onIdle: (ms: number) => void): NodeJS.Timeout {
  let ticks = -1;
  let activeAt = Date.now();
  return setInterval(() => {
    const now = Date.now();
    const tree = processesIn({ pgid, sid: pgid });
    const current = cpuTicksOf(tree.map((p) => p.pid));
    if (current !== ticks) {
      ticks = current;
      activeAt = now;
    }
    const last = Math.max(activeAt, lastOutputAt());
    if (now - last >= idleMs) onIdle(now - last);
  }, Math.max(50, Math.min(1000, Math.floor(idleMs / 4))));
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
