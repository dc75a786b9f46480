import { z } from 'zod';
import { TASK_STATES } from './task-states.ts';
import { breakerKeySchema, FAILURE_CLASSES, kindNameSchema, taskIdSchema } from './task.ts';

/**
 * What a notification sink receives (DESIGN.md, "Human steps and notifications"): one JSON
 * object per event, POSTed to a webhook or written to a command's stdin. `id` is stable across
 * every retry of the same event, so a receiver deduplicates on it (delivery is at least once).
 */
export const NOTIFY_EVENTS = [
  'task.failed',
  'task.quarantined',
  'task.waiting',
  'task.succeeded',
  'breaker.opened',
  'breaker.closed',
  'node.dead',
  'deadletter',
] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** The task state whose entry is each task event. */
export const TASK_EVENT_STATES = { failed: 'task.failed', quarantined: 'task.quarantined', waiting: 'task.waiting', succeeded: 'task.succeeded' } as const;

const epochMs = z.number().int().nonnegative().describe('epoch milliseconds, UTC');
const count = z.number().int().nonnegative();

export const notificationIdSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,300}$/, 'must be 1-300 characters of A-Z, a-z, 0-9, "_", ".", ":" or "-"');

export const notificationSchema = z.strictObject({
  id: notificationIdSchema.describe('stable across retries: deduplicate on it'),
  event: z.enum(NOTIFY_EVENTS),
  at: epochMs.describe('when the event happened'),
  node: z.string().min(1).max(200).describe('the node that recorded the event (for node.dead: the node that died)'),
  task: z
    .strictObject({
      id: taskIdSchema,
      kind: kindNameSchema,
      state: z.enum(TASK_STATES),
      step: z.string().optional(),
      attempts: z.strictObject({ transient: count, permanent: count, crashes: count }),
      error: z.strictObject({ class: z.enum([...FAILURE_CLASSES, 'compensation', 'poison']), code: z.string().optional(), message: z.string() }).optional(),
    })
    .optional(),
  breaker: z.strictObject({ key: breakerKeySchema, state: z.enum(['closed', 'open', 'halfOpen']), openUntil: epochMs.optional() }).optional(),
  deadLetter: z
    .strictObject({ seq: count, source: z.string(), code: z.string(), reason: z.string(), id: z.string().optional(), excerpt: z.string(), receivedAt: epochMs })
    .optional(),
  /** node.dead only: which incarnation went silent, where, since when, and who noticed. */
  deadNode: z.strictObject({ incarnation: z.string(), host: z.string(), lastSeenAt: epochMs, detectedBy: z.string() }).optional(),
});
export type Notification = z.infer<typeof notificationSchema>;
