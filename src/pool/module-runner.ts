import { format } from 'node:util';
import { classifyFailure } from '../machines/failure-classifier.ts';
import type { Clock } from '../ports/clock.ts';
import { silentLogger, type Logger } from '../ports/logger.ts';
import type { AbortReason, RunOutcome, RunRequest } from '../ports/runner.ts';
import type { Json } from '../protocol/task.ts';
import { createSecretRedactor, type SecretRedactor } from '../protocol/secret-redactor.ts';
import type { ModuleTask, ModuleTaskResult } from './module-worker.ts';
import { ThreadPool } from './thread-pool.ts';

export interface ModuleRunnerOptions {
  /** Worker threads at most. */
  maxThreads: number;
  /** Runs interleaved on one thread (async agents); 1 isolates each run. */
  tasksPerThread?: number;
  clock: Clock;
  /** Where a worker thread's error outside any run is reported (default: nowhere). */
  log?: Logger;
  /** Redacted from the error messages agents throw, which the task record keeps. */
  secrets?: readonly string[];
}

/**
 * Compiled (dist/), the worker loads module-worker.js directly. Run from the TypeScript sources
 * (tests), worker-entry.mjs loads module-worker.ts through tsx: Node 20 cannot strip types and
 * does not apply `--import` hooks inside worker threads.
 */
const workerFile = new URL(import.meta.url.endsWith('.ts') ? './worker-entry.mjs' : './module-worker.js', import.meta.url);

type Stop = { kind: 'abort'; reason: AbortReason } | { kind: 'timeout'; message: string };

type RunMessage = {
  type: string;
  threadId?: number;
  details?: Json;
  level?: string;
  fields?: Record<string, unknown>;
  msg?: string;
  /** A `console.*` call's arguments, formatted here once redacted. */
  args?: unknown[];
};

/** An agent's `ctx.log` or `console.*` line, relayed from its worker thread to the run's logger. */
function agentLog(log: Logger, m: RunMessage, redactor: SecretRedactor | undefined): void {
  const level = (['debug', 'info', 'warn', 'error'] as const).find((l) => l === m.level) ?? 'info';
  const msg = m.args ? format(...(redactor ? redactor.value(m.args) : m.args)) : m.msg;
  log[level]({ ...m.fields, agent: true }, msg ?? 'agent log');
}

/**
 * Runs module agents on a thread pool (thread-pool.ts), up to `tasksPerThread` interleaved on
 * each thread. A stop (abort, timeout, missed heartbeat) first fires the agent's `ctx.signal`;
 * if it has not returned after `killGraceMs`, the thread the run was given to is ended (the
 * pool replaces it), so a CPU-bound hang cannot hold a slot. Runs that shared it fail with a
 * transient THREAD_RECYCLED (retried like any transient failure); the hung run itself ends as
 * timed out or stopped.
 */
export class ModuleRunner {
  readonly #pool: ThreadPool;
  readonly #clock: Clock;
  /** Threads this runner ended (thread ids are never reused in a process). */
  readonly #ended = new Set<number>();
  /** Runs given to each thread and not settled yet. */
  readonly #onThread = new Map<number, number>();
  /** Runs in flight by runId: where their messages go (see module-worker.ts). */
  readonly #runs = new Map<string, (message: RunMessage) => void>();
  #lastRun = 0;
  readonly #redactor: SecretRedactor | undefined;

  constructor(options: ModuleRunnerOptions) {
    this.#clock = options.clock;
    const log = options.log ?? silentLogger;
    this.#redactor = createSecretRedactor(options.secrets ?? []);
    this.#pool = new ThreadPool({
      filename: workerFile,
      maxThreads: options.maxThreads,
      minThreads: 1,
      idleTimeoutMs: 30_000,
      tasksPerThread: options.tasksPerThread ?? 1,
      // A thread's error outside any run (a throw in a timer an agent left behind); the pool
      // replaces the thread.
      onError: (err: unknown) => log.warn({ err }, 'a module worker thread failed outside any run; it is replaced'),
      // A `console.*` line that cannot be told whose run printed (several on the thread).
      onThreadNote: (note) => agentLog(log, note as RunMessage, this.#redactor),
    });
  }

  async run(req: RunRequest): Promise<RunOutcome> {
    if (req.handler.type !== 'module') throw new Error('ModuleRunner runs module handlers only');
    if (req.signal.aborted) return this.#stopped({ kind: 'abort', reason: (req.signal.reason as AbortReason) ?? 'cancel' });
    const runId = `r${++this.#lastRun}`;
    const timers: NodeJS.Timeout[] = [];
    let stop: Stop | undefined;
    let heartbeatWatch: NodeJS.Timeout | undefined;
    /** The worker thread running this run, once it has started there. */
    let threadId: number | undefined;
    /** The grace ran out before the pool had given the run to a thread (all were full). */
    let killPending = false;
    /** Resolves the wait for a run that never started (see the grace timer). */
    let giveUp: () => void = () => {};
    const gaveUp = new Promise<'gave-up'>((resolve) => (giveUp = () => resolve('gave-up')));
    let orphaned = false;

    const stopRun = (why: Stop) => {
      if (stop) return;
      stop = why;
      this.#sendStop(runId, why, threadId);
      timers.push(
        setTimeout(() => {
          if (threadId !== undefined) return this.#endThread(threadId);
          // Still waiting for a thread (its thread may be stuck in another run's loop): stop
          // waiting; #orphan keeps stopping it should it start later.
          killPending = true;
          giveUp();
        }, req.killGraceMs),
      );
    };
    const armHeartbeatWatch = () => {
      if (req.heartbeatTimeoutMs === undefined) return;
      clearTimeout(heartbeatWatch);
      heartbeatWatch = setTimeout(
        () => stopRun({ kind: 'timeout', message: `no heartbeat for ${req.heartbeatTimeoutMs} ms (heartbeatTimeoutMs): the agent looks hung` }),
        req.heartbeatTimeoutMs,
      );
    };
    this.#runs.set(runId, (m) => {
      if (m.type === 'thread') {
        threadId = m.threadId;
        if (threadId !== undefined) this.#onThread.set(threadId, (this.#onThread.get(threadId) ?? 0) + 1);
        // Stopped while it waited for a thread: the stop was broadcast before this run had a
        // place to land, so send it again; if the agent ignores it, end the thread a full
        // grace from now.
        if (stop) this.#sendStop(runId, stop, threadId);
        if (killPending && threadId !== undefined) {
          const id = threadId;
          timers.push(setTimeout(() => this.#endThread(id), req.killGraceMs));
        }
      } else if (m.type === 'heartbeat') {
        armHeartbeatWatch();
        req.onHeartbeat(m.details);
      } else if (m.type === 'log') {
        agentLog(req.log, m, this.#redactor);
      }
    });
    const onAbort = () => stopRun({ kind: 'abort', reason: (req.signal.reason as AbortReason) ?? 'cancel' });
    if (req.signal.aborted) onAbort();
    else req.signal.addEventListener('abort', onAbort, { once: true });
    if (req.timeoutMs !== undefined) {
      const ms = req.timeoutMs;
      timers.push(setTimeout(() => stopRun({ kind: 'timeout', message: `timed out after ${ms} ms (timeoutMs)` }), ms));
    }
    armHeartbeatWatch();

    try {
      // A run's messages arrive before its result (one channel, in order); its thread is known
      // when the pool hands it over.
      const running = this.#pool.run(this.#moduleTask(req, req.handler, runId), {
        onNote: (note) => this.#runs.get(runId)?.(note as RunMessage),
        onThread: (id) => this.#runs.get(runId)?.({ type: 'thread', threadId: id }),
      }) as Promise<ModuleTaskResult>;
      const first = await Promise.race([running, gaveUp]);
      if (first === 'gave-up') {
        orphaned = true;
        this.#orphan(runId, running, req.killGraceMs, stop!);
        return this.#stopped(stop!);
      }
      return stop ? this.#stopped(stop) : this.#outcome(first, req);
    } catch (err) {
      return stop ? this.#stopped(stop) : this.#threadLost(err, threadId, req.handler.file);
    } finally {
      timers.forEach(clearTimeout);
      clearTimeout(heartbeatWatch);
      req.signal.removeEventListener('abort', onAbort);
      if (!orphaned) this.#runs.delete(runId);
      if (threadId !== undefined && !orphaned) this.#leftThread(threadId);
    }
  }

  #moduleTask(req: RunRequest, handler: { file: string; exportName: string }, runId: string): ModuleTask {
    return {
      file: handler.file,
      exportName: handler.exportName,
      input: req.input,
      taskId: req.taskId,
      kind: req.kind,
      step: req.step,
      attempt: req.attempt,
      workspace: req.workspace,
      steps: { ...req.steps },
      ...(req.approval ? { approval: req.approval } : {}),
      ...(req.feedback ? { feedback: req.feedback } : {}),
      runId,
    };
  }

  /** What the agent returned or threw, as the saga sees it (a throw classified). */
  #outcome(result: ModuleTaskResult, req: RunRequest): RunOutcome {
    if (result.ok) return result.route ? { ok: true, output: result.output, route: result.route } : { ok: true, output: result.output };
    const { class: explicit, code, retryAfterMs } = result.error;
    // The message is kept in the task record and shown by `reeve show` and the API.
    const message = this.#redactor ? this.#redactor.text(result.error.message) : result.error.message;
    return {
      ok: false,
      failure: classifyFailure({
        message,
        code,
        patterns: req.retryOn,
        now: this.#clock.now(),
        ...(explicit ? { explicit: { class: explicit, code, retryAfterMs } } : {}),
      }),
    };
  }

  /** The run's worker thread went away under it (the pool failed the run). */
  #threadLost(err: unknown, threadId: number | undefined, file: string): RunOutcome {
    const message = (err as Error).message;
    // Ended by this runner for a hung threadmate, or gone before this run was given to it
    // (its first message never arrived): nothing of this agent ran wrong, so run it again.
    if (threadId === undefined || this.#ended.has(threadId)) {
      const why = threadId === undefined ? 'its worker thread ended before the run started' : 'its worker thread was ended because another run on it hung';
      return { ok: false, failure: { class: 'transient', code: 'THREAD_RECYCLED', message: `module agent ${file}: ${why}; run again` } };
    }
    // The thread itself died (a native crash, an uncaught error in a timer some agent left
    // behind, maybe one that already returned): nobody can tell whose fault it was, so the
    // run is retried like a crashed process; the transient budget bounds a culprit.
    // (An agent's own process.exit is caught in the worker: a permanent AGENT_EXITED.)
    return { ok: false, failure: { class: 'transient', code: 'THREAD_CRASHED', message: `module agent ${file}: its worker thread died (${message}); run again` } };
  }

  #leftThread(threadId: number): void {
    const n = (this.#onThread.get(threadId) ?? 1) - 1;
    if (n > 0) this.#onThread.set(threadId, n);
    else {
      this.#onThread.delete(threadId);
      this.#ended.delete(threadId);
    }
  }

  /**
   * A stopped run that the pool did not give to a thread within its grace (every thread full,
   * one stuck in another run's synchronous loop): its caller is answered, but the pool may
   * still start it later.
   * Should it, it gets the stop at once, and its thread is ended if it ignores it.
   */
  #orphan(runId: string, running: Promise<ModuleTaskResult>, graceMs: number, stop: Stop): void {
    let timer: NodeJS.Timeout | undefined;
    let threadId: number | undefined;
    this.#runs.set(runId, (m) => {
      if (m.type !== 'thread' || m.threadId === undefined) return;
      threadId = m.threadId;
      this.#onThread.set(threadId, (this.#onThread.get(threadId) ?? 0) + 1);
      this.#sendStop(runId, stop, threadId);
      const id = threadId;
      timer = setTimeout(() => this.#endThread(id), graceMs);
    });
    // Cannot reject: the catch swallows the run's failure, and the finally only cleans up.
    void running
      .catch(() => undefined)
      .finally(() => {
        clearTimeout(timer);
        this.#runs.delete(runId);
        if (threadId !== undefined) this.#leftThread(threadId);
      });
  }

  /** A run not yet given to a thread gets its stop when it is (the 'thread' message). */
  #sendStop(runId: string, stop: Stop, threadId: number | undefined): void {
    if (threadId !== undefined) this.#pool.send(threadId, { runId, reason: stop.kind === 'abort' ? stop.reason : 'timeout' });
  }

  /** Terminates a worker thread; the pool fails the runs on it and starts a replacement. */
  #endThread(threadId: number): void {
    if (!this.#pool.threadIds.includes(threadId)) return;
    this.#ended.add(threadId);
    this.#pool.terminate(threadId);
  }

  #stopped(stop: Stop): RunOutcome {
    if (stop.kind === 'timeout') return { ok: false, failure: { class: 'timeout', code: 'RUN_TIMED_OUT', message: stop.message } };
    return { ok: false, failure: { class: 'cancelled', message: `run stopped: ${stop.reason}` }, aborted: stop.reason };
  }

  get threads(): number {
    return this.#pool.threadIds.length;
  }

  async close(): Promise<void> {
    await this.#pool.destroy();
  }
}
