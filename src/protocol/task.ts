import { z } from 'zod';
import { TASK_STATES, type TaskState } from './task-states.ts';
import { MAX_TIMER_MS, NAME_PATTERN, TASK_ID_PATTERN } from './patterns.ts';

/** Task ids are safe as a NATS subject token and a file name. */
export { MAX_TIMER_MS, NAME_PATTERN, TASK_ID_PATTERN } from './patterns.ts';

/** Largest task input, measured as UTF-8 JSON. */
export const MAX_INPUT_BYTES = 1024 * 1024;

export const taskIdSchema = z
  .string()
  .regex(TASK_ID_PATTERN, 'must be 1-128 characters of A-Z, a-z, 0-9, "_" or "-" (it is used as a NATS subject token)');
export const kindNameSchema = z
  .string()
  .regex(NAME_PATTERN, 'must be 1-64 characters of A-Z, a-z, 0-9, "_" or "-"');
export const breakerKeySchema = kindNameSchema;
export const taskStateSchema = z.enum(TASK_STATES, {
  error: (issue) => `must be one of ${TASK_STATES.join(', ')} (got ${JSON.stringify(issue.input)})`,
});

const positiveMs = z
  .number()
  .int('must be an integer number of milliseconds')
  .positive('must be > 0 ms')
  .max(MAX_TIMER_MS, `must be at most ${MAX_TIMER_MS} ms (about 24.8 days): a longer timer overflows and fires at once`);

/** Deepest nesting of arrays and objects in a task input (a scalar is depth 0, `[]` depth 1). */
export const MAX_INPUT_DEPTH = 512;

/**
 * Why `value` is not a JSON value Reeve can take as an input without walking it recursively, or
 * undefined when it is fine. Iterative (an explicit stack), so an input nested 10 000 levels
 * deep is refused here instead of overflowing the call stack in JSON.stringify or in zod's own
 * recursive JSON check (both throw RangeError at a few thousand levels). Also bounds the walk:
 * a JSON text of at most MAX_INPUT_BYTES holds fewer values than that, so an object graph with
 * more (shared references built in code) is refused as too large before it is ever serialised.
 */
export function inputShapeIssue(value: unknown, maxDepth = MAX_INPUT_DEPTH): string | undefined {
  const stack: Array<{ v: unknown; depth: number }> = [{ v: value, depth: 0 }];
  let visited = 0;
  while (stack.length > 0) {
    const { v, depth } = stack.pop()!;
    if (++visited > MAX_INPUT_BYTES) return `holds more than ${MAX_INPUT_BYTES} values, over the ${MAX_INPUT_BYTES}-byte limit; pass a path or URL to large data instead`;
    if (typeof v !== 'object' || v === null) continue;
    if (depth + 1 > maxDepth) return `is nested more than ${maxDepth} levels deep (arrays and objects inside each other); flatten it or pass a path or URL to the data instead`;
    const children: unknown[] = Array.isArray(v) ? v : Object.values(v);
    for (const child of children) stack.push({ v: child, depth: depth + 1 });
  }
  return undefined;
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '', 'utf8');
}

/**
 * Any JSON value, nested at most MAX_INPUT_DEPTH levels and at most MAX_INPUT_BYTES as UTF-8
 * JSON (DESIGN.md, "External contract"). The shape check runs first, in the preprocess step:
 * an issue there stops the pipe before z.json() and the byte count recurse into the value.
 * JSON Schema export (io "input") shows the z.json() side, as before.
 */
export const taskInputSchema = z
  .preprocess((value, ctx) => {
    const issue = inputShapeIssue(value);
    if (issue !== undefined) ctx.addIssue({ code: 'custom', message: issue, input: value });
    return value;
  }, z.json())
  .superRefine((value, ctx) => {
    const bytes = jsonBytes(value);
    if (bytes > MAX_INPUT_BYTES) {
      ctx.addIssue({
        code: 'custom',
        message: `is ${bytes} bytes as JSON, over the ${MAX_INPUT_BYTES}-byte limit; pass a path or URL to large data instead`,
      });
    }
  });

/** What a publisher sends: CLI `--input`, the API, or a `reeve.submit` message body. */
export const submitRequestSchema = z.strictObject({
  id: taskIdSchema.optional(),
  kind: kindNameSchema,
  input: taskInputSchema.optional(),
  priority: z.number().int('must be an integer').min(-1_000_000).max(1_000_000).optional(),
  breakerKey: breakerKeySchema.optional(),
  timeoutMs: positiveMs.optional(),
  labels: z.record(z.string().regex(/^[A-Za-z0-9_./-]{1,64}$/, 'label names: 1-64 of A-Z a-z 0-9 _ . / -'), z.string().max(256)).optional(),
});
export type SubmitRequest = z.infer<typeof submitRequestSchema>;

export type Json = z.infer<ReturnType<typeof z.json>>;

/** The class of a failed attempt (see DESIGN.md, "Failures, retries, breaker"). */
export const FAILURE_CLASSES = ['transient', 'permanent', 'timeout', 'cancelled', 'lost-lease'] as const;
export type FailureClass = (typeof FAILURE_CLASSES)[number];

/** Failed attempts per class; `crashes` counts lost leases and dead nodes. */
export interface Attempts {
  transient: number;
  permanent: number;
  crashes: number;
}

export interface TaskError {
  class: FailureClass | 'compensation' | 'poison';
  code?: string;
  message: string;
}

export interface HistoryEntry {
  at: number;
  from: TaskState | null;
  to: TaskState;
  reason: string;
}

export type CompensationStatus = 'done' | 'failed' | 'skipped';
export interface CompensationRecord {
  step: string;
  status: CompensationStatus;
  at: number;
  reason?: string;
  error?: string;
}

/**
 * What a person's approval hands the next step (`ctx.approval`): the input and reason given
 * with `reeve approve`, who approved and when. Kept in the saga snapshot, so it survives a
 * restart between the approval and the step.
 */
export interface Approval {
  input?: Json;
  reason?: string;
  by?: string;
  at: number;
}

/**
 * Why a step runs again (`ctx.feedback`): a person rejected `from` with `--goto`, or the gate of
 * step `from` failed with a `goto`. Kept in the saga snapshot until the step completes.
 */
export interface Feedback {
  reason: string;
  from: string;
}

/**
 * One step of a pipeline in the task record (an addition to DESIGN's record): how many times it
 * was entered and its latest output, whole when its JSON is at most 4 KiB (step-records.ts),
 * else a cut of that JSON text in `outputExcerpt`.
 */
export interface StepRecord {
  name: string;
  visits: number;
  output?: Json;
  outputExcerpt?: string;
}

export interface Annotation {
  at: number;
  author: string;
  text: string;
}

/** `reeve show ID --json`: the external shape of a task. */
export interface TaskRecord {
  id: string;
  kind: string;
  state: TaskState;
  step?: string;
  input?: Json;
  priority: number;
  breakerKey: string;
  timeoutMs?: number;
  labels?: Record<string, string>;
  attempts: Attempts;
  owner?: string;
  leaseExpiresAt?: number;
  heartbeatAt?: number;
  availableAt: number;
  createdAt: number;
  updatedAt: number;
  result?: Json;
  error?: TaskError;
  history: HistoryEntry[];
  compensations: CompensationRecord[];
  annotations: Annotation[];
  /** Compare-and-set revision: every write bumps it. */
  revision: number;
  /**
   * The last `details` the run passed to `ctx.heartbeat` (an addition to DESIGN's record: what
   * a long run reports about itself). Absent until a run reports some.
   */
  progress?: Json;
  /**
   * The kind's steps in order, with visits and outputs (an addition to DESIGN's record), read
   * from the saga snapshot the store keeps; absent for a task that never ran.
   */
  steps?: StepRecord[];
}

export const ZERO_ATTEMPTS: Readonly<Attempts> = Object.freeze({ transient: 0, permanent: 0, crashes: 0 });

export type { TaskState };
