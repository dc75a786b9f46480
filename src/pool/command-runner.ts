import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { execa } from 'execa';
import { classifyFailure } from '../machines/failure-classifier.ts';
import type { Clock } from '../ports/clock.ts';
import type { ProcessRegistry } from '../ports/process-registry.ts';
import type { AbortReason, HandlerSpec, RunOutcome, RunRequest } from '../ports/runner.ts';
import { UNPROVEN, type RunIdentity, type RunMembers } from '../platform/run-members.ts';
import type { Json } from '../protocol/task.ts';
import { killRunTree } from './kill-tree.ts';
import { expandArgs, PlaceholderError } from './placeholders.ts';
import { LeftoverSweep, membersOfRuns } from './leftover-sweep.ts';
import { cpuTicksOf, processesIn, readProcStat } from './proc.ts';
import { openRunLog } from './run-log.ts';

export interface CommandRunnerOptions {
  clock: Clock;
  /** Environment variables passed through to every command (plus the kind's own `env`). */
  envAllowList: readonly string[];
  /** Bytes of output kept to classify a failure by (the log tail). Default TAIL_BYTES (16 KiB). */
  tailBytes?: number;
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

/** Lines of the tail in a failure's message (the task record), and in a result without JSON. */
const MESSAGE_TAIL_LINES = 20;
const RESULT_TAIL_LINES = 50;

type Stop = { kind: 'abort'; reason: AbortReason } | { kind: 'timeout'; message: string };
type Failure = Extract<RunOutcome, { ok: false }>;
type CommandHandler = Extract<HandlerSpec, { type: 'command' }>;
/** A run about to be spawned: its argv, marker and environment, its intent row written. */
interface Prepared {
  file: string;
  rest: string[];
  runId: string;
  env: Record<string, string>;
}
/** A spawned run: the child, its log, and what it printed last. */
interface Spawned {
  child: Child;
  log: ReturnType<typeof openRunLog>;
  /** Who the run is: its marker and its root's pid, group, session and start time. */
  identity: RunIdentity;
  stdoutTail(): string;
  outputAt(): number;
}

/**
 * Runs command agents as child processes in their own process group and session (never through
 * a shell). Every spawn is recorded durably before it happens and identified by pid + start
 * time after; a stop (timeout, cancel, lost lease, drain) kills the whole tree — SIGTERM,
 * `killGraceMs`, SIGKILL, then a /proc walk for anything that escaped — and a run's registry row
 * is cleared only once its tree is confirmed gone; otherwise it is left to the reaper. Which
 * processes are the run's is decided by the reaper's rules (`runMembers`) also here: once the
 * root has exited its numbers may be reused.
 */
export class CommandRunner {
  readonly #sweep = new LeftoverSweep();
  readonly #settling = new Set<Promise<void>>();

  constructor(private readonly options: CommandRunnerOptions) {}

  async run(req: RunRequest): Promise<RunOutcome> {
    if (req.handler.type !== 'command') throw new Error('CommandRunner runs command handlers only');
    const prepared = await this.#prepare(req, req.handler);
    if ('ok' in prepared) return prepared;
    const run = await this.#spawn(req, req.handler, prepared);
    const watch = this.#watch(req, run);
    try {
      const result = await run.child;
      await watch.stopping();
      if (run.identity.pid !== undefined) this.#settle(run.identity, req.log);
      else if (this.options.registry) await this.options.registry.clear(prepared.runId).catch(() => undefined);
      await run.log.close();
      return this.#outcome(req, prepared, run, result, watch.stop());
    } finally {
      watch.dispose();
    }
  }

  /** Expands the argv, records the intent (no record, no spawn) and builds the environment. */
  async #prepare(req: RunRequest, handler: CommandHandler): Promise<Prepared | Failure> {
    let args: string[];
    try {
      args = expandArgs(handler.command, req.input);
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
    Object.assign(env, handler.env, { REEVE_TASK_ID: req.taskId, REEVE_STEP: req.step, REEVE_ATTEMPT: String(req.attempt), REEVE_WORKSPACE: req.workspace, REEVE_RUN_ID: runId });
    // ctx.approval and ctx.feedback of a module agent, as JSON (an approval's input is capped at 64 KiB).
    if (req.approval) env['REEVE_APPROVAL'] = JSON.stringify(req.approval);
    if (req.feedback) env['REEVE_FEEDBACK'] = JSON.stringify(req.feedback);
    if (handler.cwd === undefined) await mkdir(req.workspace, { recursive: true });
    return { file, rest, runId, env };
  }

  /** Spawns the root in a group and session of its own, streams its output, records its identity. */
  async #spawn(req: RunRequest, handler: CommandHandler, { file, rest, runId, env }: Prepared): Promise<Spawned> {
    const log = openRunLog({
      dir: this.options.logDir ?? req.workspace,
      runId,
      secrets: this.options.secrets ?? [],
      ...(this.options.tailBytes === undefined ? {} : { tailBytes: this.options.tailBytes }),
      onError: (err) => req.log.warn({ err }, 'run log unwritable; output is dropped'),
    });
    const child = spawnRoot(file, rest, handler.cwd ?? req.workspace, env, handler.stdin);
    if (handler.stdin === 'json') {
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
    // Not reaped before the event loop runs again, so the stat is there (a zombie's at worst).
    const pid = child.pid;
    const rootStat = pid === undefined ? undefined : readProcStat(pid);
    const identity: RunIdentity = { runId, ...(pid === undefined ? {} : { pid, pgid: pid, sid: pid }), ...(rootStat ? { starttime: rootStat.starttime } : {}) };
    if (this.options.registry && pid !== undefined && rootStat) {
      await this.options.registry.recordSpawned(runId, { pid, pgid: pid, sid: pid, starttime: rootStat.starttime }).catch((err: unknown) => {
        // The intent row stays; the reaper finds the process by its REEVE_RUN_ID.
        req.log.error({ err, runId }, 'cannot record the spawned pid');
      });
    }
    return { child, log, identity, stdoutTail: () => stdoutTail, outputAt: () => outputAt };
  }

  /** Stops the run on abort, timeout or idleness, heartbeats meanwhile, and clears up after the root's exit. */
  #watch(req: RunRequest, run: Spawned): { stop(): Stop | undefined; stopping(): Promise<unknown>; dispose(): void } {
    const pid = run.identity.pid;
    let stop: Stop | undefined;
    let stopping: Promise<unknown> | undefined;
    const stopRun = (why: Stop) => {
      if (stop) return;
      stop = why;
      stopping = this.#killRun(run.identity, req.killGraceMs, req.log);
    };
    const onAbort = () => stopRun({ kind: 'abort', reason: (req.signal.reason as AbortReason) ?? 'cancel' });
    if (req.signal.aborted) onAbort();
    else req.signal.addEventListener('abort', onAbort, { once: true });
    const timer = req.timeoutMs === undefined ? undefined : setTimeout(() => stopRun({ kind: 'timeout', message: `timed out after ${req.timeoutMs} ms (timeoutMs)` }), req.timeoutMs);
    // A living process proves liveness; the node renews the lease meanwhile.
    const beat = setInterval(() => req.onHeartbeat(), 5000);
    const idle = req.idleTimeoutMs === undefined || pid === undefined ? undefined : watchIdle(pid, req.idleTimeoutMs, () => run.outputAt(), (ms) => stopRun({ kind: 'timeout', message: `no output and no CPU time for ${ms} ms (idleTimeoutMs): the run looks wedged` }));
    // The execa promise does not settle while a grandchild holds the output pipes: once the
    // direct child has exited, what is left of the run is killed.
    run.child.once('exit', () => {
      if (!stop && pid !== undefined && groupMayLive(pid)) stopping = this.#killRun(run.identity, 200, req.log);
    });
    return {
      stop: () => stop,
      stopping: () => stopping ?? Promise.resolve(),
      dispose: () => {
        clearTimeout(timer);
        clearInterval(beat);
        clearInterval(idle);
        req.signal.removeEventListener('abort', onAbort);
      },
    };
  }

  #outcome(req: RunRequest, { file, env }: Prepared, run: Spawned, result: Awaited<Child>, stop: Stop | undefined): RunOutcome {
    const tail = run.log.tail();
    if (stop?.kind === 'timeout') return { ok: false, failure: { class: 'timeout', code: 'RUN_TIMED_OUT', message: `${stop.message}\n${tail.slice(-5).join('\n')}`.trim() } };
    if (stop?.kind === 'abort') return { ok: false, failure: { class: 'cancelled', message: `run stopped: ${stop.reason}` }, aborted: stop.reason };
    if (result.exitCode === 0) return { ok: true, output: lastLineJson(run.stdoutTail().split('\n')) ?? { exitCode: 0, logTail: tail.slice(-RESULT_TAIL_LINES).join('\n') } };
    if (result.failed && result.exitCode === undefined) {
      return { ok: false, failure: { class: 'permanent', code: 'SPAWN_FAILED', message: `cannot run ${file}: ${result.shortMessage ?? result.message}; check that it exists and is executable (PATH is ${env.PATH ?? 'unset'})` } };
    }
    const exited = `${file} exited with ${result.exitCode ?? result.signal}`;
    return {
      ok: false,
      failure: classifyFailure({
        // The record shows a few lines; the classifier reads the whole tail, where a provider's
        // 529 may sit above a stack trace or the agent's own retry chatter.
        message: `${exited}\n${tail.slice(-MESSAGE_TAIL_LINES).join('\n')}`,
        evidence: `${exited}\n${tail.join('\n')}`,
        ...(result.exitCode === undefined ? {} : { exitCode: result.exitCode }),
        patterns: req.retryOn,
        now: this.options.clock.now(),
      }),
    };
  }

  /** Kills the proven processes of a run (a stop, or the root's exit), judged from a fresh look at /proc. */
  async #killRun(identity: RunIdentity, graceMs: number, log: RunRequest['log']): Promise<RunMembers> {
    const [found] = membersOfRuns([identity]);
    if (found!.members.length > 0) await this.#kill(found!, graceMs, log);
    return found!;
  }

  #kill(found: RunMembers, graceMs: number, log: RunRequest['log']) {
    return killRunTree({ members: found.members, pgid: found.pgid, sid: found.sid, graceMs, protectedPids: this.options.protectedPids ?? [], log });
  }

  /**
   * A run leaves no process behind, and its row is cleared only once that is confirmed. A helper
   * that let go of the output pipes may live on in the root's group, in another group of its
   * session (job control) or in a session of its own (setsid(); found by REEVE_RUN_ID): the
   * shared sweep finds them, they are killed, and the row is cleared. If anything of the run
   * is left, a process in its group cannot be proven the run's, or settling fails, the row
   * becomes a handoff: the reaper's next pass takes it. This happens after the outcome is
   * returned, so a run does not wait for a /proc pass.
   */
  #settle(run: RunIdentity, log: RunRequest['log']): void {
    const registry = this.options.registry;
    const settling = (async () => {
      let found = await this.#sweep.find(run);
      if (found.members.length > 0) {
        await this.#kill(found, 200, log);
        found = await this.#sweep.find(run);
      }
      const unproven = found.skipped.filter((s) => s.reason === UNPROVEN);
      if (found.members.length > 0) log.warn({ runId: run.runId, pids: found.members.map((s) => s.pid) }, 'processes of a finished run survived its kill; the reaper takes them over');
      if (unproven.length > 0) log.warn({ runId: run.runId, pids: unproven.map((s) => s.pid) }, "processes in a finished run's group are not provably the run's; left alone, the reaper looks again");
      if (registry) await (found.members.length === 0 && unproven.length === 0 ? registry.clear(run.runId) : registry.markHandoff(run.runId));
    })().catch(async (err: unknown) => {
      // The row must not stay `spawned` under this live incarnation: the periodic reaper takes
      // only handoffs and dead owners' rows.
      const handedOff = await registry?.markHandoff(run.runId).then(() => true, () => false);
      log.error({ err, runId: run.runId, handedOff }, 'settling a finished run failed; its registry row is left to the reaper');
    });
    this.#settling.add(settling);
    // Cannot reject: settling ends in a catch that logs and swallows.
    void settling.finally(() => this.#settling.delete(settling));
  }

  /** Waits until every finished run is settled (its leftovers killed, its row cleared or handed off). */
  async close(): Promise<void> {
    while (this.#settling.size > 0) await Promise.allSettled([...this.#settling]);
  }
}

/** The root, in a process group and session of its own, so a stop reaches grandchildren too. */
function spawnRoot(file: string, args: readonly string[], cwd: string, env: Record<string, string>, stdin: CommandHandler['stdin']) {
  return execa(file, args, { cwd, env, extendEnv: false, detached: true, reject: false, stdin: stdin === 'json' ? 'pipe' : 'ignore', buffer: false });
}
type Child = ReturnType<typeof spawnRoot>;

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
