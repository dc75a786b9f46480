import { z } from 'zod';
import { breakerEventSchema, nodeHeartbeatSchema, taskEventSchema } from '../protocol/messages.ts';
import { FAILURE_CLASSES, submitRequestSchema, taskIdSchema, taskStateSchema } from '../protocol/task.ts';
import { kindNameSchema } from '../protocol/task.ts';
import { TASK_STATES } from '../protocol/task-states.ts';
import { decisionFields } from '../protocol/task-control.ts';

/**
 * The HTTP API's request and response shapes (DESIGN.md, "HTTP API and dashboard"). Requests are
 * parsed with these (a bad one is a 400 naming the field); /api/v1/openapi.json is generated
 * from them, so the document cannot drift from what the server accepts.
 */

/** A query parameter holding a positive integer up to `max` (query values are strings). */
const intParam = (max: number, what: string) =>
  z
    .string()
    .regex(/^\d{1,9}$/, `must be a positive integer (at most ${max}) ${what}`)
    .transform(Number)
    .pipe(z.number().int().min(1, `must be at least 1 ${what}`).max(max, `must be at most ${max} ${what}`));

export const MAX_PAGE = 1000;
/** How deep a cursor may page: the stores list newest first without an offset, so a page past this costs too much. */
export const MAX_CURSOR_OFFSET = 10_000;
export const MAX_LOG_BYTES = 1024 * 1024;

export const taskPathSchema = z.strictObject({ id: taskIdSchema });

export const machinePathSchema = z.strictObject({
  name: z.enum(['taskSaga', 'circuitBreaker'], { error: (issue) => `must be taskSaga or circuitBreaker (got ${JSON.stringify(issue.input)})` }),
});

export const taskListQuerySchema = z.strictObject({
  state: taskStateSchema.optional(),
  kind: kindNameSchema.optional(),
  limit: intParam(MAX_PAGE, '(tasks per page; default 100)').optional(),
  cursor: z
    .string()
    .regex(/^\d{1,6}$/, 'must be the `next` value of a previous page')
    .transform(Number)
    .pipe(z.number().int().max(MAX_CURSOR_OFFSET, `pages deeper than ${MAX_CURSOR_OFFSET} tasks are not served; filter by state or kind`))
    .optional(),
});

/** `{ reason?, input?, goto? }`: `input` only approves, `goto` only rejects, a rejection needs a reason (protocol/task-control.ts). */
export const decisionBodySchema = z.strictObject(decisionFields);

export const logQuerySchema = z.strictObject({ bytes: intParam(MAX_LOG_BYTES, '(bytes of the log tail; default 65536)').optional() });

export const deadLetterListQuerySchema = z.strictObject({ limit: intParam(MAX_PAGE, '(dead letters; default 100)').optional() });
export const deadLetterPathSchema = z.strictObject({ n: z.string().regex(/^\d{1,15}$/, 'must be a dead letter number').transform(Number) });

/** No query parameters: a typo (`?stat=failed`) is an error, not a silently ignored filter. */
export const noQuerySchema = z.strictObject({});

const epochMs = z.number().int().nonnegative();
const attempts = z.object({ transient: z.number().int(), permanent: z.number().int(), crashes: z.number().int() });

/** The `show --json` record (documentation only: the server writes what the store returns). */
export const taskRecordSchema = z.object({
  id: taskIdSchema,
  kind: kindNameSchema,
  state: z.enum(TASK_STATES),
  step: z.string().optional(),
  input: z.json().optional(),
  priority: z.number().int(),
  breakerKey: z.string(),
  attempts,
  owner: z.string().optional(),
  leaseExpiresAt: epochMs.optional(),
  availableAt: epochMs,
  createdAt: epochMs,
  updatedAt: epochMs,
  result: z.json().optional(),
  error: z.object({ class: z.enum([...FAILURE_CLASSES, 'compensation', 'poison']), code: z.string().optional(), message: z.string() }).optional(),
  history: z.array(z.object({ at: epochMs, from: z.enum(TASK_STATES).nullable(), to: z.enum(TASK_STATES), reason: z.string() })),
  compensations: z.array(z.object({ step: z.string(), status: z.enum(['done', 'failed', 'skipped']), at: epochMs, reason: z.string().optional(), error: z.string().optional() })),
  annotations: z.array(z.object({ at: epochMs, author: z.string(), text: z.string() })),
  revision: z.number().int(),
  progress: z.json().optional().describe('the last ctx.heartbeat(details) of the run'),
  steps: z
    .array(z.object({ name: z.string(), visits: z.number().int(), output: z.json().optional(), outputExcerpt: z.string().optional().describe('the output JSON cut at 4096 bytes, when it is larger') }))
    .optional()
    .describe("the kind's steps in order, with visits and latest outputs"),
});

export const errorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) });

export const statusSchema = z.object({
  mode: z.enum(['embedded', 'cluster']),
  nodes: z.array(z.object({ id: z.string(), incarnation: z.string(), state: z.enum(['up', 'draining', 'drained', 'dead']), capacity: z.number().int(), running: z.number().int(), lastSeenAt: epochMs })),
  breakers: z.array(z.object({ key: z.string(), state: z.enum(['closed', 'open', 'halfOpen']), openUntil: epochMs.optional() })),
  preflight: z.array(z.object({ kind: z.string(), ok: z.boolean(), reason: z.string(), checkedAt: epochMs })),
  counts: z.record(z.string(), z.number().int()),
  notifications: z.object({
    pending: z.number().int(),
    failed: z.number().int(),
    lastError: z.object({ id: z.string(), event: z.string(), at: epochMs, message: z.string() }).optional(),
  }),
});

export const deadLetterSummarySchema = z.object({ n: z.number().int(), receivedAt: epochMs, source: z.string(), code: z.string(), reason: z.string(), id: z.string().optional(), excerpt: z.string() });
export const deadLetterSchema = deadLetterSummarySchema.extend({ body: z.string() });

export { breakerEventSchema, nodeHeartbeatSchema, submitRequestSchema, taskEventSchema };
