import { z } from 'zod';
import { FAILURE_CLASSES } from './task.ts';
import { TASK_STATES } from './task-states.ts';
import { breakerKeySchema, kindNameSchema, submitRequestSchema, taskIdSchema } from './task.ts';
import { notificationSchema } from './notification.ts';
import { taskControlReplySchema, taskControlRequestSchema } from './task-control.ts';

export { taskControlReplySchema, taskControlRequestSchema } from './task-control.ts';

/**
 * Every wire message of the external contract (DESIGN.md, "External contract" > NATS), as zod
 * schemas. `npm run protocol` exports them as JSON Schema to docs/protocol/, and a test fails
 * when that directory is out of date, so publishers in other languages can rely on it.
 */
const epochMs = z.number().int().nonnegative().describe('epoch milliseconds, UTC');
const nodeId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/);

const attempts = z.strictObject({ transient: z.number().int().nonnegative(), permanent: z.number().int().nonnegative(), crashes: z.number().int().nonnegative() });
const taskError = z.strictObject({ class: z.enum([...FAILURE_CLASSES, 'compensation', 'poison']), code: z.string().optional(), message: z.string() });

/** `reeve.submit` (JetStream): the submit JSON; a `Nats-Msg-Id` header, when present, must equal `id`. */
export const submitMessageSchema = submitRequestSchema;

/** `reeve.events.task.<id>`: every state change. */
export const taskEventSchema = z.strictObject({
  id: taskIdSchema,
  kind: kindNameSchema,
  state: z.enum(TASK_STATES),
  from: z.enum(TASK_STATES).nullable(),
  at: epochMs,
  attempts,
  error: taskError.optional(),
  result: z.json().optional(),
});

/** `reeve.events.rejected`: a malformed submission, kept as a dead letter. */
export const rejectedEventSchema = z.strictObject({
  code: z.string(),
  reason: z.string(),
  receivedAt: epochMs,
  id: z.string().optional(),
  excerpt: z.string(),
});

/** `reeve.nodes.heartbeat.<node>`: every second. */
export const nodeHeartbeatSchema = z.strictObject({
  id: nodeId,
  incarnation: z.string(),
  state: z.enum(['up', 'draining', 'stopped']),
  capacity: z.number().int().nonnegative(),
  running: z.number().int().nonnegative(),
  at: epochMs,
  /**
   * The kinds this node runs (an addition to DESIGN's heartbeat): a node that pulls a
   * submission of a kind it lacks accepts it when a live node runs that kind, and that node
   * claims it. Optional, so a heartbeat without it stays valid.
   */
  kinds: z.array(kindNameSchema).max(1000).optional(),
  /**
   * The node's XState inspector relay (`ws://HOST:PORT/inspect`, no token) when it runs with
   * `--inspect` (an addition to DESIGN's heartbeat): the dashboard lists each node's relay.
   */
  inspect: z.string().max(2048).optional(),
});

/** `reeve.nodes.control.<node>`. */
export const nodeControlSchema = z.strictObject({ op: z.literal('drain'), deadlineMs: z.number().int().nonnegative().optional() });

/**
 * `reeve.nodes.drained.<node>`: the node has stopped pulling, finished what it could by its
 * deadline and handed the rest back (re-queued, no attempt charged); it exits 0 next.
 */
export const nodeDrainedSchema = z.strictObject({
  id: nodeId,
  incarnation: z.string(),
  finished: z.number().int().nonnegative().describe('runs that ended on their own while draining'),
  handedBack: z.number().int().nonnegative().describe('runs stopped at the deadline and re-queued'),
  at: epochMs,
});

/** The reply to a `reeve.nodes.control.<node>` request. */
export const nodeControlReplySchema = z.strictObject({ accepted: z.boolean(), node: nodeId, incarnation: z.string(), reason: z.string().optional() });

/** `reeve.breaker.<key>`. */
export const breakerEventSchema = z.strictObject({
  key: breakerKeySchema,
  state: z.enum(['closed', 'open', 'halfOpen']),
  openUntil: epochMs.optional(),
  node: nodeId,
  at: epochMs,
});

/** The files of docs/protocol/, by name. */
export const PROTOCOL_SCHEMAS = {
  'submit.json': submitMessageSchema,
  'task-event.json': taskEventSchema,
  'rejected-event.json': rejectedEventSchema,
  'node-heartbeat.json': nodeHeartbeatSchema,
  'node-control.json': nodeControlSchema,
  'node-control-reply.json': nodeControlReplySchema,
  'node-drained.json': nodeDrainedSchema,
  'breaker-event.json': breakerEventSchema,
  'task-control.json': taskControlRequestSchema,
  'task-control-reply.json': taskControlReplySchema,
  // Not a NATS message: what a notify webhook receives (POST body) or a notify command reads on stdin.
  'notification.json': notificationSchema,
} as const;

export function protocolJsonSchemas(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(PROTOCOL_SCHEMAS).map(([file, schema]) => [file, `${JSON.stringify(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }), null, 2)}\n`]),
  );
}
