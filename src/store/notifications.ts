import { randomBytes } from 'node:crypto';
import type { DeadLetter } from '../ports/task-store.ts';
import type { NodeInfo } from '../ports/node-registry.ts';
import type { NotifyRecording } from '../ports/outbox.ts';
import { NOTIFY_EVENTS, TASK_EVENT_STATES, type Notification, type NotifyEvent } from '../protocol/notification.ts';
import type { TaskState } from '../protocol/task-states.ts';
import type { Attempts, TaskError } from '../protocol/task.ts';
import { parseOrThrow } from '../protocol/validate.ts';
import { z } from 'zod';

/**
 * Which store writes become notifications, and their payloads: shared by every adapter, so
 * both record the same events for the same writes. Each adapter writes what these return in
 * the same transaction (SQLite) or compare-and-set (KV) as the change itself.
 */

const recordingSchema = z.strictObject({ node: z.string().min(1).max(200), events: z.array(z.enum(NOTIFY_EVENTS)) });

/** `n_` + time in base 36 + random: unique, roughly time-ordered, safe in a KV key. */
export function newNotificationId(now: number): string {
  return `n_${now.toString(36)}${randomBytes(8).toString('base64url').slice(0, 10)}`;
}

/** The breaker event a stored state change is: one `opened` per outage (not per failed probe), one `closed` when it ends. */
export function breakerEvent(from: 'closed' | 'open' | 'halfOpen', to: 'closed' | 'open' | 'halfOpen'): NotifyEvent | undefined {
  if (from === 'closed' && to === 'open') return 'breaker.opened';
  if (from !== 'closed' && to === 'closed') return 'breaker.closed';
  return undefined;
}

export interface TaskFacts {
  id: string;
  kind: string;
  state: TaskState;
  step?: string | null | undefined;
  attempts: Attempts;
  error?: TaskError | null | undefined;
}

/** The states whose notification carries the task's error: the error is why it ended there. */
const ENDED_BADLY: ReadonlySet<TaskState> = new Set(['failed', 'quarantined']);

/** What a store instance records; nothing until `set` names events. */
export class NotificationRecorder {
  #node = 'reeve';
  #events: ReadonlySet<NotifyEvent> = new Set();

  set(recording: NotifyRecording): void {
    const parsed = parseOrThrow(recordingSchema, recording, 'notification recording');
    this.#node = parsed.node;
    this.#events = new Set(parsed.events);
  }

  wants(event: NotifyEvent): boolean {
    return this.#events.has(event);
  }

  /** Whether a write from `from` to `to` records a task event (cheap: called on every write). */
  wantsTask(from: TaskState, to: TaskState): boolean {
    if (from === to || this.#events.size === 0) return false;
    const event = (TASK_EVENT_STATES as Partial<Record<TaskState, NotifyEvent>>)[to];
    return event !== undefined && this.#events.has(event);
  }

  /** The notification of a task's state change, when that event is recorded. */
  forTask(task: TaskFacts, from: TaskState, at: number): Notification | undefined {
    if (!this.wantsTask(from, task.state)) return undefined;
    const event = (TASK_EVENT_STATES as Partial<Record<TaskState, NotifyEvent>>)[task.state]!;
    return {
      id: newNotificationId(at),
      event,
      at,
      node: this.#node,
      task: {
        id: task.id,
        kind: task.kind,
        state: task.state,
        ...(task.step ? { step: task.step } : {}),
        attempts: { transient: task.attempts.transient, permanent: task.attempts.permanent, crashes: task.attempts.crashes },
        // A record keeps its last error until it succeeds; on a task that waits or succeeded that
        // error is history (a 429 retried away), and a receiver would report it as the news.
        ...(task.error && ENDED_BADLY.has(task.state) ? { error: { class: task.error.class, ...(task.error.code === undefined ? {} : { code: task.error.code }), message: task.error.message } } : {}),
      },
    };
  }

  forBreaker(breaker: { key: string; state: 'closed' | 'open' | 'halfOpen'; openUntil?: number | undefined }, from: 'closed' | 'open' | 'halfOpen', at: number): Notification | undefined {
    const event = breakerEvent(from, breaker.state);
    if (event === undefined || !this.#events.has(event)) return undefined;
    return {
      id: newNotificationId(at),
      event,
      at,
      node: this.#node,
      breaker: { key: breaker.key, state: breaker.state, ...(breaker.openUntil === undefined || breaker.state !== 'open' ? {} : { openUntil: breaker.openUntil }) },
    };
  }

  forDeadLetter(letter: Omit<DeadLetter, 'payload'>): Notification | undefined {
    if (!this.#events.has('deadletter')) return undefined;
    const { seq, source, code, reason, id, excerpt, receivedAt } = letter;
    return { id: newNotificationId(receivedAt), event: 'deadletter', at: receivedAt, node: this.#node, deadLetter: { seq, source, code, reason, ...(id === undefined ? {} : { id }), excerpt, receivedAt } };
  }

  /**
   * A node that went silent. The id is derived from what every detector reads (node, incarnation,
   * last beacon), so two nodes noticing the same death write the same notification once.
   */
  forDeadNode(node: NodeInfo, detectedBy: string, at: number): Notification | undefined {
    if (!this.#events.has('node.dead')) return undefined;
    return {
      id: deadNodeNotificationId(node),
      event: 'node.dead',
      at,
      node: node.id,
      deadNode: { incarnation: node.incarnation, host: node.host, lastSeenAt: node.lastSeenAt, detectedBy },
    };
  }
}

export function deadNodeNotificationId(node: Pick<NodeInfo, 'id' | 'incarnation' | 'lastSeenAt'>): string {
  return `node.dead.${node.id}.${node.incarnation}.${node.lastSeenAt}`;
}

/** Request validation of the outbox operations (the port's arguments). */
const owner = z.string().min(1).max(200);
const idField = z.string().min(1).max(300);
const ms = z.number().int().nonnegative();
export const outboxClaimSchema = z.strictObject({ owner, limit: z.number().int().min(1).max(1000), leaseTtlMs: z.number().int().positive(), deadOwnerPrefix: owner.optional() });

/** Whether an entry's hold is over for `claimer`: none, expired, or an earlier incarnation of the claiming node. */
export function holdIsOver(hold: { owner?: string | null | undefined; leaseExpiresAt?: number | null | undefined }, claimer: { owner: string; deadOwnerPrefix?: string | undefined }, now: number): boolean {
  if (hold.owner === undefined || hold.owner === null) return true;
  if ((hold.leaseExpiresAt ?? 0) <= now) return true;
  return claimer.deadOwnerPrefix !== undefined && hold.owner !== claimer.owner && hold.owner.startsWith(claimer.deadOwnerPrefix);
}
const settleBase = { id: idField, owner, revision: z.number().int().positive() };
const sinkKeys = z.array(z.string().min(1).max(200)).max(1000);
export const outboxSettleSchema = z.discriminatedUnion('outcome', [
  z.strictObject({ ...settleBase, outcome: z.literal('delivered') }),
  z.strictObject({ ...settleBase, outcome: z.literal('retry'), delivered: sinkKeys, nextAttemptAt: ms, error: z.string().max(4096) }),
  z.strictObject({ ...settleBase, outcome: z.literal('failed'), delivered: sinkKeys, error: z.string().max(4096) }),
]);
export const deadNodeReportSchema = z.strictObject({ id: z.string().min(1).max(64), incarnation: z.string().min(1).max(200), silentSince: ms, detectedBy: z.string().min(1).max(200) });
export const purgeBeforeArg = z.number().int('before must be an integer (ms since the epoch)').nonnegative('before must be >= 0');
