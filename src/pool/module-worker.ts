/**
 * The module runner's worker thread: loads a module agent and calls it with `(input, ctx)`.
 * Everything crossing back to the main thread is plain data: structured clone drops error
 * classes, so failures travel as `{ class?, code?, message, retryAfterMs? }`.
 */
import { mkdirSync } from 'node:fs';
import { inspect } from 'node:util';
import { isMainThread, parentPort } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import type { AgentContext, AgentLog } from '../agent.ts';
import type { StepRoute } from '../machines/task-saga-types.ts';
import type { Approval, Feedback, Json } from '../protocol/task.ts';
import { moduleExports } from '../platform/module-exports.ts';
import { serveBatches } from './thread-pool.ts';

export interface ModuleTask {
  file: string;
  exportName: string;
  input: Json | undefined;
  taskId: string;
  kind: string;
  step: string;
  attempt: number;
  workspace: string;
  steps: Record<string, Json>;
  approval?: Approval;
  feedback?: Feedback;
  /** Names this run in the runner's stops. */
  runId: string;
}

/**
 * The runner talks to runs without a MessageChannel each: transferring a port with every task
 * cost ~70-125 µs of CPU per run (measured against a bare piscina run). A run's messages
 * (heartbeats, logs) go back with the results of the thread's batch (thread-pool.ts), tagged
 * with the run; stops come on the same port as the batches (see `stop`).
 */
const running = new Map<string, AbortController>();
/** How each running run sends its own messages to the main thread. */
const posts = new Map<string, (message: object) => void>();
/** How this thread sends a message that is no run's (set once it serves batches). */
let threadNote: ((message: unknown) => void) | undefined;
/**
 * A stop (`{ runId, reason }`) comes on the thread's own port, after the batch that brought its
 * run, so the run is always there by then (a run registers itself as it starts, before its
 * first await); a stop for a run that already ended finds nothing.
 */
function stop(message: unknown): void {
  const { runId, reason } = (message ?? {}) as { runId?: string; reason?: string };
  if (runId !== undefined) running.get(runId)?.abort(reason);
}

export interface WorkerFailure {
  class?: 'transient' | 'permanent';
  code?: string;
  message: string;
  retryAfterMs?: number;
}

export type ModuleTaskResult = { ok: true; output: Json | undefined; route?: StepRoute } | { ok: false; error: WorkerFailure };

function describe(thrown: unknown): WorkerFailure {
  if (thrown instanceof Error || (typeof thrown === 'object' && thrown !== null && 'message' in thrown)) {
    const e = thrown as { message: unknown; reeveClass?: unknown; code?: unknown; retryAfterMs?: unknown; name?: unknown };
    const failure: WorkerFailure = { message: String(e.message) };
    if (e.reeveClass === 'transient' || e.reeveClass === 'permanent') failure.class = e.reeveClass;
    if (typeof e.code === 'string') failure.code = e.code;
    if (typeof e.retryAfterMs === 'number') failure.retryAfterMs = e.retryAfterMs;
    return failure;
  }
  return { message: typeof thrown === 'string' ? thrown : `agent threw ${JSON.stringify(thrown)}` };
}

/** Where `value` stops being plain JSON, as a path (`$.a[2]`), or undefined when it is JSON. */
function notJsonAt(value: unknown, path: string, seen: Set<object>): string | undefined {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return undefined;
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : `${path} is ${value}`;
  if (typeof value !== 'object') return `${path} is a ${typeof value}`;
  if (seen.has(value)) return `${path} is a circular reference`;
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const bad = notJsonAt(value[i], `${path}[${i}]`, seen);
      if (bad) return bad;
    }
  } else {
    const proto = Object.getPrototypeOf(value) as unknown;
    if (proto !== Object.prototype && proto !== null) return `${path} is a ${(value as object).constructor?.name ?? 'class instance'}`;
    for (const [key, item] of Object.entries(value)) {
      const bad = notJsonAt(item, `${path}.${key}`, seen);
      if (bad) return bad;
    }
  }
  seen.delete(value);
  return undefined;
}

/** Results are stored as JSON: a Map, a Date or a cycle would be silently lost or crash the write. */
function checkSerialisable(value: unknown): WorkerFailure | undefined {
  if (value === undefined) return undefined;
  const bad = notJsonAt(value, '$', new Set());
  if (!bad) return undefined;
  return {
    class: 'permanent',
    code: 'RESULT_NOT_JSON',
    message: `the agent returned a result that is not JSON-serialisable (${bad}); return plain objects, arrays, strings, finite numbers, booleans or null`,
  };
}

function portLog(post: (message: object) => void): AgentLog {
  const send = (level: string) => (obj: object | string, msg?: string) => {
    const fields = typeof obj === 'string' ? {} : safeFields(obj);
    post({ type: 'log', level, fields, msg: typeof obj === 'string' ? obj : msg });
  };
  return { debug: send('debug'), info: send('info'), warn: send('warn'), error: send('error') };
}

function safeFields(obj: object): Record<string, unknown> {
  try {
    return JSON.parse(JSON.stringify(obj, (_k, v: unknown) => (v instanceof Error ? { message: v.message, name: v.name } : v))) as Record<string, unknown>;
  } catch {
    return { fields: '[unserialisable]' };
  }
}

/** Agents load once per worker thread; TypeScript ones through tsx (no build step), loaded only then. */
const loadedAgents = new Map<string, Promise<Record<string, unknown>>>();
function loadAgent(file: string): Promise<Record<string, unknown>> {
  let loading = loadedAgents.get(file);
  if (!loading) {
    const url = pathToFileURL(file).href;
    loading = (/\.[mc]?tsx?$/.test(file) ? import('tsx/esm/api').then(({ tsImport }) => tsImport(url, import.meta.url)) : import(url)).then(moduleExports);
    loadedAgents.set(file, loading);
    loading.catch(() => loadedAgents.delete(file));
  }
  return loading;
}

/**
 * Runs share a thread (`tasksPerThread`), so an agent's `process.exit` must not end the thread:
 * that would fail every run on it. Here it fails only the run that called it (the throw unwinds
 * that agent's call; it is reported as a permanent AGENT_EXITED).
 */
const exitThread = process.exit.bind(process);
process.exit = ((code?: number | string | null) => {
  // Node itself exits the thread this way after an uncaught error (flagging _exiting), and with
  // no run on the thread nobody else can be hurt: both keep the real exit.
  if ((process as { _exiting?: boolean })._exiting || running.size === 0) return exitThread(code as number | undefined);
  throw Object.assign(new Error(`the agent called process.exit(${code ?? ''}); a module agent must return or throw instead`), {
    reeveClass: 'permanent',
    code: 'AGENT_EXITED',
  });
}) as typeof process.exit;

/**
 * What an agent prints with `console.*` becomes a log line of the node (redacted like `ctx.log`,
 * tagged `console: true`), not raw text on the node's stdout: a secret printed there would
 * escape the redaction, and an operator could not tell which task printed it. A line is the
 * run's own when one run is on this thread; with several interleaved, it cannot be told whose,
 * so it goes to the pool's logger. The arguments travel as they are (the main thread redacts,
 * then formats them: formatted here, a secret inside an object would arrive escaped by
 * `inspect` where the redactor cannot find it); what cannot be cloned travels inspected.
 */
function cloneable(arg: unknown): unknown {
  try {
    return structuredClone(arg);
  } catch {
    return inspect(arg);
  }
}
const CONSOLE_LEVELS = { debug: 'debug', trace: 'debug', log: 'info', info: 'info', warn: 'warn', error: 'error' } as const;
for (const [method, level] of Object.entries(CONSOLE_LEVELS)) {
  (console as unknown as Record<string, (...args: unknown[]) => void>)[method] = (...args: unknown[]) => {
    const message = { type: 'log', level, fields: { console: true }, args: args.map(cloneable) };
    const only = posts.size === 1 ? posts.values().next().value : undefined;
    if (only) only(message);
    else threadNote?.(message);
  };
}

/** One run; `post` sends the run's own messages (heartbeats, logs) back before its result. */
export default async function runModuleTask(task: ModuleTask, post: (message: object) => void): Promise<ModuleTaskResult> {
  posts.set(task.runId, post);
  try {
    return await runAgent(task, post);
  } finally {
    posts.delete(task.runId);
  }
}

// Loaded in a pool's thread (directly, or through worker-entry.mjs): serve the runner's batches.
if (!isMainThread && parentPort) {
  threadNote = serveBatches(parentPort, (task, post) => runModuleTask(task as ModuleTask, post), stop);
}

async function runAgent(task: ModuleTask, post: (message: object) => void): Promise<ModuleTaskResult> {
  const controller = new AbortController();
  running.set(task.runId, controller);
  let route: StepRoute | undefined;
  try {
    const loaded = await loadAgent(task.file);
    const fn = loaded[task.exportName];
    if (typeof fn !== 'function') {
      return {
        ok: false,
        error: {
          class: 'permanent',
          code: 'AGENT_NOT_A_FUNCTION',
          message: `${task.file} has no function export "${task.exportName}"; write \`export default async function (input, ctx) { ... }\``,
        },
      };
    }
    const ctx: AgentContext = {
      taskId: task.taskId,
      kind: task.kind,
      step: task.step,
      attempt: task.attempt,
      signal: controller.signal,
      // Created on first use: most runs never touch it, and a mkdir per run costs (measured).
      get workspace() {
        mkdirSync(task.workspace, { recursive: true });
        return task.workspace;
      },
      steps: task.steps,
      ...(task.approval ? { approval: task.approval } : {}),
      ...(task.feedback ? { feedback: task.feedback } : {}),
      heartbeat: (details) => post({ type: 'heartbeat', details: details === undefined ? undefined : safeFields({ details }).details }),
      log: portLog(post),
      goto: (step) => {
        route = { goto: step };
      },
      waitForApproval: () => {
        route = { wait: 'approval' };
      },
    };
    // Stopped while the agent was loading (a first TS load takes a few hundred ms): do not
    // start it at all; an agent subscribing to an already-aborted signal would never hear it.
    if (controller.signal.aborted) return { ok: false, error: { message: `stopped before start: ${String(controller.signal.reason)}` } };
    const output = (await fn(task.input, ctx)) as Json | undefined;
    const notJson = checkSerialisable(output);
    if (notJson) return { ok: false, error: notJson };
    return route ? { ok: true, output, route } : { ok: true, output };
  } catch (err) {
    return { ok: false, error: describe(err) };
  } finally {
    running.delete(task.runId);
  }
}
