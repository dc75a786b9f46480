/**
 * Validation of the client API's arguments (src/client.ts): every bad value is an
 * INVALID_INPUT naming the field, never a TypeError from deep inside.
 */
import { z } from 'zod';
import { InvalidInputError } from '../errors.ts';
import { decisionFields, decisionIssues } from '../protocol/task-control.ts';
import type { Json } from '../protocol/task.ts';
import { TASK_STATES, type TaskState } from '../protocol/task-states.ts';

/** Which tasks `list` returns, newest first. */
export interface TaskListQuery {
  /** Only tasks in this state. Default: every state. */
  state?: TaskState;
  /** Only tasks of this kind (`[A-Za-z0-9_-]{1,64}`). Default: every kind. */
  kind?: string;
  /** At most this many, 1 to 10000. Default: 100. */
  limit?: number;
}

/** DESIGN.md: kind names are `[A-Za-z0-9_-]{1,64}`. */
const KIND = /^[A-Za-z0-9_-]{1,64}$/;

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

function fail(what: string, path: string, message: string): never {
  throw new InvalidInputError(what, [{ path, message }]);
}

export function listQuery(query: unknown): TaskListQuery & { limit: number } {
  if (!isObject(query)) fail('list', 'query', 'must be an object such as { state: "failed", limit: 20 }');
  const { state, kind, limit } = query;
  if (state !== undefined && !TASK_STATES.includes(state as TaskState)) fail('list', 'state', `must be one of ${TASK_STATES.join(', ')} (got ${JSON.stringify(state)})`);
  if (kind !== undefined && (typeof kind !== 'string' || !KIND.test(kind))) fail('list', 'kind', `must be a kind name: 1 to 64 of A-Z a-z 0-9 _ - (got ${JSON.stringify(kind)})`);
  if (limit !== undefined && (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit < 1 || limit > 10_000)) fail('list', 'limit', `must be an integer from 1 to 10000 (got ${JSON.stringify(limit)})`);
  return { ...(state ? { state: state as TaskState } : {}), ...(kind ? { kind } : {}), limit: limit ?? 100 };
}

/** The options of `wait` (with `onChange`) and `events` (without). */
export function followOptions<T extends { signal?: AbortSignal; onChange?: unknown }>(what: string, options: unknown, withOnChange: boolean): T {
  if (options === undefined) return {} as T;
  if (!isObject(options)) fail(what, 'options', 'must be an object such as { signal }');
  const { signal, onChange } = options;
  if (signal !== undefined && !(signal instanceof AbortSignal)) fail(what, 'signal', 'must be an AbortSignal (from an AbortController)');
  if (withOnChange && onChange !== undefined && typeof onChange !== 'function') fail(what, 'onChange', 'must be a function called with each state change');
  return options as T;
}

/** The second argument of `openReeveClient`. */
export function clientOptions<T extends object>(options: unknown): T {
  const what = 'openReeveClient options';
  if (options === undefined) return {} as T;
  if (!isObject(options)) fail(what, 'options', 'must be an object such as { cwd: "/srv/app" } or nothing');
  const { cwd, env, log, clock } = options;
  if (cwd !== undefined && (typeof cwd !== 'string' || cwd === '')) fail(what, 'cwd', 'must be a directory path');
  if (env !== undefined && !isObject(env)) fail(what, 'env', 'must be an object of environment variables, such as process.env');
  if (log !== undefined && !(isObject(log) && ['debug', 'info', 'warn', 'error', 'child'].every((m) => typeof log[m] === 'function'))) fail(what, 'log', 'must be a logger with debug, info, warn, error and child methods (a pino logger is one)');
  if (clock !== undefined && !(isObject(clock) && typeof clock['now'] === 'function')) fail(what, 'clock', 'must be a clock with a now() method');
  return options as T;
}

/** An optional text argument (`reason`, `by`): a non-empty string or the default. */
export function text(value: unknown, field: string, fallback: string): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.trim() === '') fail(field, field, 'must be a non-empty string');
  return value;
}

/** Options of `approve`: who approves (default "client"), and what the next step sees as `ctx.approval`. */
export interface ApproveOptions {
  by?: string;
  /** Any JSON (at most 64 KiB): `ctx.approval.input` of the next step. */
  input?: Json;
  /** Recorded in history; `ctx.approval.reason`. */
  reason?: string;
}

/** Options of `reject`: who rejects (default "client"), and the step to send the task back to. */
export interface RejectOptions {
  by?: string;
  /** Back to this step (which sees `ctx.feedback`) instead of failing the task. */
  goto?: string;
}

const decisionSchema = z.strictObject({ by: z.string().trim().min(1, 'must be a non-empty string').max(200).optional(), ...decisionFields });

/** The options of `approve` and `reject`, checked by the rules the CLI, HTTP and NATS share. */
export function decisionOptions(what: 'approve' | 'reject', options: unknown, reason: string | undefined): { by: string; input?: Json; reason?: string; goto?: string } {
  if (options !== undefined && !isObject(options)) fail(what, 'options', `must be an object such as { by: "ana" }`);
  const given = { ...(options ?? {}), ...(reason === undefined ? {} : { reason }) };
  const parsed = decisionSchema.safeParse(given);
  if (!parsed.success) fail(what, parsed.error.issues[0]!.path.map(String).join('.'), parsed.error.issues[0]!.message);
  const [issue] = decisionIssues(what, parsed.data);
  if (issue) fail(what, issue.path, issue.message);
  const { by, ...rest } = parsed.data;
  return { by: by ?? 'client', ...Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)) };
}
