import type { z } from 'zod';
import { operateOnTask, type TaskOperation } from '../actors/operator.ts';
import type { Backend } from '../node/backend.ts';
import type { Config } from '../config/schema.ts';
import { deadLetter, deadLetterSummary } from '../views/dead-letter-view.ts';
import { InvalidInputError, TaskNotFoundError } from '../errors.ts';
import type { SupervisionNode } from '../actors/supervisor.ts';
import type { Clock } from '../ports/clock.ts';
import type { Inspection } from '../ports/inspection.ts';
import type { ReeveStore } from '../ports/reeve-store.ts';
import { publicRecord } from '../protocol/public-record.ts';
import { decisionIssues, type TaskOp } from '../protocol/task-control.ts';
import type { SubmitRequest, TaskRecord } from '../protocol/task.ts';
import { nodeViews, statusReport } from '../views/status-report.ts';
import { readLogTail } from './log-tail.ts';
import { definitionOf, MACHINES } from './machine-definition.ts';
import * as s from './schemas.ts';

export interface ApiContext {
  store: ReeveStore;
  backend: Pick<Backend, 'mode' | 'submit'>;
  config: Config;
  clock: Clock;
  /** Where command agents' run logs are (`<dataDir>/logs`). */
  logDir: string;
  /** The serving node's supervision tree (children of its root supervisor), with restart counts. */
  supervision?: () => SupervisionNode[];
  /** Live state: operator decisions are events to the task's actor. */
  inspection?: Inspection;
}

export type ApiResult = { status: number; json: unknown } | { status: number; text: string; contentType: string };

export interface ApiRoute {
  method: 'GET' | 'POST';
  /** OpenAPI path template; `{name}` segments are path parameters. */
  path: string;
  summary: string;
  params?: z.ZodType;
  query: z.ZodType;
  body?: z.ZodType;
  /** Documented success response. */
  response: { status: number; schema?: z.ZodType; contentType?: string };
  handle(ctx: ApiContext, input: { params: any; query: any; body: any }): Promise<ApiResult>;
}

const ok = (json: unknown, status = 200): ApiResult => ({ status, json });

async function record(ctx: ApiContext, id: string): Promise<TaskRecord> {
  const task = await ctx.store.get(id);
  if (!task) throw new TaskNotFoundError(id);
  return publicRecord(task);
}

async function submit(ctx: ApiContext, body: SubmitRequest): Promise<ApiResult> {
  const kinds = Object.keys(ctx.config.agents);
  if (kinds.length > 0 && !kinds.includes(body.kind)) {
    throw new InvalidInputError('task submission', [{ path: 'kind', message: `"${body.kind}" is not a configured kind; configured: ${kinds.join(', ')}` }]);
  }
  const breakerKey = body.breakerKey ?? ctx.config.agents[body.kind]?.breakerKey;
  const submitted = await ctx.backend.submit({ ...body, ...(breakerKey ? { breakerKey } : {}) });
  // In a cluster the intake of some node writes the record shortly after the publish.
  const until = ctx.clock.now() + 2_000;
  for (let delay = 10; ; delay = Math.min(200, delay * 2)) {
    const task = await ctx.store.get(submitted.id);
    if (task) return ok({ task: publicRecord(task) }, submitted.created ? 201 : 200);
    if (ctx.clock.now() >= until) return ok({ task: { id: submitted.id, kind: body.kind, state: submitted.state ?? 'queued' } }, 201);
    await new Promise((resolve) => setTimeout(resolve, delay));
  }
}

/** Cancel, retry, approve and reject: the operator code path the CLI and NATS use, with the same field rules. */
async function operate(ctx: ApiContext, id: string, op: TaskOp, body: z.infer<typeof s.decisionBodySchema>): Promise<ApiResult> {
  const issues = decisionIssues(op, body);
  if (issues.length > 0) throw new InvalidInputError(op, issues);
  const operation: TaskOperation =
    op === 'approve'
      ? { op, by: 'http', ...(body.input === undefined ? {} : { input: body.input }), ...(body.reason === undefined ? {} : { reason: body.reason }) }
      : op === 'reject'
        ? { op, by: 'http', reason: body.reason!, ...(body.goto === undefined ? {} : { goto: body.goto }) }
        : { op, reason: body.reason ?? (op === 'cancel' ? 'cancelled via HTTP' : 'retried via HTTP') };
  return ok({ task: publicRecord((await operateOnTask(ctx.store, ctx.clock, id, operation, ctx.inspection)).task) });
}

const taskResponse = { status: 200, schema: s.taskRecordSchema };

export const API_ROUTES: ApiRoute[] = [
  {
    method: 'GET',
    path: '/api/v1/tasks',
    summary: 'Tasks, newest first, with filters and a cursor',
    query: s.taskListQuerySchema,
    response: { status: 200 },
    handle: async (ctx, { query }) => {
      const q = query as z.infer<typeof s.taskListQuerySchema>;
      const limit = q.limit ?? 100;
      const offset = q.cursor ?? 0;
      const rows = await ctx.store.query({ ...(q.state ? { state: q.state } : {}), ...(q.kind ? { kind: q.kind } : {}), limit: offset + limit + 1 });
      const page = rows.slice(offset, offset + limit).map(publicRecord);
      return ok({ tasks: page, ...(rows.length > offset + limit ? { next: String(offset + limit) } : {}) });
    },
  },
  {
    method: 'POST',
    path: '/api/v1/tasks',
    summary: 'Submit a task (201; 200 when the id already existed)',
    query: s.noQuerySchema,
    body: s.submitRequestSchema,
    response: { status: 201 },
    handle: (ctx, { body }) => submit(ctx, body as SubmitRequest),
  },
  { method: 'GET', path: '/api/v1/tasks/{id}', summary: 'One task in the `show --json` shape', params: s.taskPathSchema, query: s.noQuerySchema, response: taskResponse, handle: async (ctx, { params }) => ok(await record(ctx, params.id)) },
  {
    method: 'POST',
    path: '/api/v1/tasks/{id}/cancel',
    summary: 'Cancel a task (its compensations run)',
    params: s.taskPathSchema,
    query: s.noQuerySchema,
    body: s.decisionBodySchema,
    response: { status: 200 },
    handle: (ctx, { params, body }) => operate(ctx, params.id, 'cancel', body),
  },
  {
    method: 'POST',
    path: '/api/v1/tasks/{id}/retry',
    summary: 'Re-open a failed, cancelled or quarantined task with fresh budgets',
    params: s.taskPathSchema,
    query: s.noQuerySchema,
    body: s.decisionBodySchema,
    response: { status: 200 },
    handle: (ctx, { params, body }) => operate(ctx, params.id, 'retry', body),
  },
  {
    method: 'POST',
    path: '/api/v1/tasks/{id}/approve',
    summary: 'Approve a task waiting for a person: the next step sees ctx.approval = { input?, reason?, by, at }',
    params: s.taskPathSchema,
    query: s.noQuerySchema,
    body: s.decisionBodySchema,
    response: { status: 200 },
    handle: (ctx, { params, body }) => operate(ctx, params.id, 'approve', body),
  },
  {
    method: 'POST',
    path: '/api/v1/tasks/{id}/reject',
    summary: 'Reject a task waiting for a person (reason required): with goto it goes back to that step (ctx.feedback), else it compensates and fails',
    params: s.taskPathSchema,
    query: s.noQuerySchema,
    body: s.decisionBodySchema,
    response: { status: 200 },
    handle: (ctx, { params, body }) => operate(ctx, params.id, 'reject', body),
  },
  {
    method: 'GET',
    path: '/api/v1/tasks/{id}/log',
    summary: "Tail of the task's latest run log, redacted (text/plain)",
    params: s.taskPathSchema,
    query: s.logQuerySchema,
    response: { status: 200, contentType: 'text/plain' },
    handle: async (ctx, { params, query }) => {
      await record(ctx, params.id);
      const text = await readLogTail(ctx.logDir, params.id, query.bytes ?? 65_536, ctx.config.secrets);
      return { status: 200, text, contentType: 'text/plain; charset=utf-8' };
    },
  },
  { method: 'GET', path: '/api/v1/status', summary: 'The `reeve status --json` report', query: s.noQuerySchema, response: { status: 200, schema: s.statusSchema }, handle: async (ctx) => ok(await statusReport(ctx.store, ctx.clock.now(), ctx.backend.mode)) },
  { method: 'GET', path: '/api/v1/nodes', summary: 'Nodes (up, draining, drained, dead)', query: s.noQuerySchema, response: { status: 200 }, handle: async (ctx) => ok({ nodes: nodeViews(await ctx.store.listNodes(), ctx.clock.now()) }) },
  { method: 'GET', path: '/api/v1/breakers', summary: 'Circuit breakers', query: s.noQuerySchema, response: { status: 200 }, handle: async (ctx) => ok({ breakers: (await statusReport(ctx.store, ctx.clock.now(), ctx.backend.mode)).breakers }) },
  {
    method: 'GET',
    path: '/api/v1/machines/{name}',
    summary: "A state machine's definition (taskSaga, circuitBreaker), as the XState inspector receives it",
    params: s.machinePathSchema,
    query: s.noQuerySchema,
    response: { status: 200 },
    handle: async (_ctx, { params }) => {
      const machine = MACHINES[params.name as keyof typeof MACHINES];
      return { status: 200, text: `{"id":${JSON.stringify(machine.id)},"definition":${definitionOf(machine)}}`, contentType: 'application/json; charset=utf-8' };
    },
  },
  {
    method: 'GET',
    path: '/api/v1/supervision',
    summary: "This node's supervision tree: each supervised child with its status, restarts and crashes",
    query: s.noQuerySchema,
    response: { status: 200 },
    handle: async (ctx) => ok({ root: { id: 'root', children: ctx.supervision?.() ?? [] } }),
  },
  {
    method: 'GET',
    path: '/api/v1/dead-letters',
    summary: 'Dead letters, newest first',
    query: s.deadLetterListQuerySchema,
    response: { status: 200 },
    handle: async (ctx, { query }) => ok({ deadLetters: (await ctx.store.listDeadLetters(query.limit ?? 100)).map(deadLetterSummary) }),
  },
  {
    method: 'GET',
    path: '/api/v1/dead-letters/{n}',
    summary: 'One dead letter with its whole body',
    params: s.deadLetterPathSchema,
    query: s.noQuerySchema,
    response: { status: 200, schema: s.deadLetterSchema },
    handle: async (ctx, { params }) => ok(await deadLetter(ctx.store, params.n)),
  },
];
