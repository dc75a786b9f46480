import { z } from 'zod';
import { breakerKeySchema, kindNameSchema, taskIdSchema, taskStateSchema } from '../protocol/task.ts';
import { FAILURE_CLASSES } from '../protocol/task.ts';

/**
 * Zod schemas for the arguments of every TaskStore method. Adapters validate with these before
 * touching storage, so bad input never leaves a partial write, whatever the backend.
 */
const ms = (what: string) => z.number().int(`${what} must be an integer number of ms`).min(0, `${what} must be >= 0`);
const positiveMs = (what: string) =>
  z.number().int(`${what} must be an integer number of ms`).positive(`${what} must be > 0 (a ${what} of 0 would expire at once)`);
export const ownerSchema = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,200}$/, 'owner must be "nodeId:incarnation" (1-200 of A-Z a-z 0-9 _ . : -)');
const count = z.number().int().min(0, 'must be >= 0');
const reason = z.string().min(1, 'give a reason: it is recorded in the task history').max(2000);

export const attemptsSchema = z.strictObject({ transient: count, permanent: count, crashes: count });
export const taskErrorSchema = z.strictObject({
  class: z.enum([...FAILURE_CLASSES, 'compensation', 'poison']),
  code: z.string().max(200).optional(),
  message: z.string().max(64 * 1024),
});
export const compensationRecordSchema = z.strictObject({
  step: z.string().min(1),
  status: z.enum(['done', 'failed', 'skipped']),
  at: ms('at'),
  reason: z.string().optional(),
  error: z.string().optional(),
});

export const claimRequestSchema = z.strictObject({
  owner: ownerSchema,
  limit: z.number().int('limit must be an integer').min(1, 'limit must be >= 1').max(1000, 'limit must be <= 1000'),
  leaseTtlMs: positiveMs('leaseTtlMs'),
  excludeBreakerKeys: z.array(breakerKeySchema).optional(),
  kinds: z.array(kindNameSchema).optional(),
  breakerKeys: z.array(breakerKeySchema).optional(),
});

export const heartbeatRequestSchema = z.strictObject({
  id: taskIdSchema,
  owner: ownerSchema,
  revision: z.number().int().positive('revision must be a positive integer'),
  leaseTtlMs: positiveMs('leaseTtlMs'),
  details: z.json().optional(),
});

export const transitionRequestSchema = z.strictObject({
  id: taskIdSchema,
  revision: z.number().int().positive('revision must be a positive integer'),
  owner: ownerSchema.optional(),
  to: taskStateSchema,
  reason,
  step: z.string().min(1).max(64).nullable().optional(),
  attempts: attemptsSchema.optional(),
  result: z.json().optional(),
  error: taskErrorSchema.nullable().optional(),
  availableAt: ms('availableAt').optional(),
  compensations: z.array(compensationRecordSchema).optional(),
  snapshot: z.unknown().optional(),
  leaseTtlMs: positiveMs('leaseTtlMs').optional(),
  release: z.boolean().optional(),
  record: z.boolean().optional(),
});

export const staleOptionsSchema = z.strictObject({
  crashLimit: z.number().int('crashLimit must be an integer').min(1, 'crashLimit must be >= 1'),
  deadOwner: ownerSchema.optional(),
});

export const taskQuerySchema = z.strictObject({
  state: taskStateSchema.optional(),
  kind: kindNameSchema.optional(),
  limit: z.number().int('limit must be an integer').positive('limit must be a positive integer').optional(),
});

const terminalStateSchema = z.enum(['succeeded', 'failed', 'cancelled', 'quarantined'], {
  error: (issue) => `only finished tasks can be purged: succeeded, failed, cancelled or quarantined (got ${JSON.stringify(issue.input)})`,
});

export const kindListArg = z.array(kindNameSchema).max(10_000);

export const purgeRequestSchema = z.strictObject({
  before: z.number().int('before must be an integer (ms since the epoch)').nonnegative('before must be >= 0'),
  states: z.array(terminalStateSchema).min(1, 'states must name at least one state').optional(),
  limit: z.number().int('limit must be an integer').positive('limit must be a positive integer').max(10_000, 'limit must be at most 10000 (run the purge again for more)').optional(),
  dryRun: z.boolean().optional(),
});

export const annotationSchema = z.strictObject({
  author: z.string().min(1, 'author is required').max(200),
  text: z.string().min(1, 'text is required').max(64 * 1024),
});

export const deadLetterSchema = z.strictObject({
  source: z.string().min(1).max(200),
  code: z.string().min(1).max(200),
  reason: z.string().max(64 * 1024),
  id: z.string().max(1024).optional(),
  payload: z.string(),
});

export const idArg = taskIdSchema;
export const reasonArg = reason;
export const limitArg = z.number().int('limit must be an integer').positive('limit must be a positive integer');

export type ParsedClaim = z.output<typeof claimRequestSchema>;
export type ParsedTransition = z.output<typeof transitionRequestSchema>;
export type ParsedPurge = z.output<typeof purgeRequestSchema>;

export const deadLetterPurgeSchema = purgeRequestSchema.omit({ states: true });
export type ParsedDeadLetterPurge = z.output<typeof deadLetterPurgeSchema>;

/** GateStore and NodeRegistry arguments: names are NAME_PATTERN tokens (also safe as KV key tokens). */
export const breakerWriteSchema = z.strictObject({
  key: breakerKeySchema,
  state: z.enum(['closed', 'open', 'halfOpen']),
  openUntil: ms('openUntil').optional(),
  snapshot: z.unknown().refine((v) => v !== undefined, 'snapshot is required'),
});
export const expectedRevisionArg = z.number().int('expectedRevision must be an integer').min(0, 'expectedRevision must be >= 0 (0: must not exist yet)');
export const preflightRecordSchema = z.strictObject({
  kind: kindNameSchema,
  ok: z.boolean(),
  reason: z.string().max(64 * 1024),
  checkedAt: ms('checkedAt'),
});
export const nodeInfoSchema = z.strictObject({
  id: kindNameSchema,
  incarnation: z.string().min(1).max(200),
  // A node says up, draining or stopped; only markNodeDead writes `dead`.
  state: z.enum(['up', 'draining', 'stopped']),
  capacity: count,
  running: count,
  startedAt: ms('startedAt'),
  lastSeenAt: ms('lastSeenAt'),
  pid: count,
  host: z.string().max(1024),
  taskCounts: z.partialRecord(taskStateSchema, count).optional(),
});
