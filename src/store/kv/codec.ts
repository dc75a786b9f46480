import type { FullTask, StoredTask, TaskWrite } from '../../ports/task-store.ts';
import type { TaskState } from '../../protocol/task-states.ts';
import { TASK_ID_PATTERN, type Annotation } from '../../protocol/task.ts';
import type { WriteTarget } from '../write-rules.ts';
import type { Notification } from '../../protocol/notification.ts';

/**
 * How a task is laid out in the bucket. See kv-task-store.ts for the design.
 *
 * Keys: `t.<id>` the task (one value, the only thing a write compare-and-sets), `a.<id>` its
 * annotations, `dl.<n>` dead letters with the counter `dl-seq`; beside the tasks (gate-keys.ts)
 * `b.<breaker key>` breakers, `pf.<kind>` preflight results, `n.<node id>` node beacons. Only
 * `t.` keys match the index's watch filter `t.>`.
 */
export const TASK_PREFIX = 't.';
export const TASK_WATCH_FILTER = 't.>';
export const DEAD_LETTER_SEQ_KEY = 'dl-seq';
/** A hint: no dead letter below this number is left (purges move it up). */
export const DEAD_LETTER_LOW_KEY = 'dl-low';
export const taskKey = (id: string): string => `${TASK_PREFIX}${id}`;
export const annotationsKey = (id: string): string => `a.${id}`;
export const deadLetterKey = (seq: number): string => `dl.${seq}`;
export const BREAKER_PREFIX = 'b.';
export const PREFLIGHT_PREFIX = 'pf.';
export const NODE_PREFIX = 'n.';
export const breakerKey = (key: string): string => `${BREAKER_PREFIX}${key}`;
export const preflightKey = (kind: string): string => `${PREFLIGHT_PREFIX}${kind}`;
export const nodeKey = (id: string): string => `${NODE_PREFIX}${id}`;
/** The notification outbox (outbox-keys.ts): `o.<notification id>`. */
export const OUTBOX_PREFIX = 'o.';
export const outboxKey = (id: string): string => `${OUTBOX_PREFIX}${id}`;

/** The task id of a watched key, or undefined for a key that is not a task. */
export function idOfKey(key: string): string | undefined {
  if (!key.startsWith(TASK_PREFIX)) return undefined;
  const id = key.slice(TASK_PREFIX.length);
  return TASK_ID_PATTERN.test(id) ? id : undefined;
}

/**
 * A task as stored under `t.<id>`: the full record but its annotations (kept apart so that
 * annotating never needs or bumps the task's revision) and its revision (the KV revision of
 * the entry, so it is never stored). `seq` is the KV revision of the `create` that made the
 * task: the FIFO position within a priority, like SQLite's `seq` column. The create cannot know
 * its own revision, so it stores 0 and the first update writes the real value.
 */
export interface TaskDoc extends Omit<FullTask, 'annotations' | 'revision' | 'from'> {
  seq: number;
  /**
   * Notifications this record's writes caused, not yet moved to their `o.<id>` keys (see
   * outbox-keys.ts): written by the same compare-and-set as the change, so none is lost.
   */
  outbox?: Notification[];
}

/** The fields every index needs: they go on the first line of the value, read without the rest. */
const HEAD_FIELDS = ['state', 'kind', 'priority', 'breakerKey', 'seq', 'availableAt', 'owner', 'leaseExpiresAt', 'cancelRequested', 'outbox'] as const;
export type TaskHead = Pick<TaskDoc, (typeof HEAD_FIELDS)[number]>;
const HEAD_SET: ReadonlySet<string> = new Set(HEAD_FIELDS);

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NEWLINE = 10;

/**
 * Value = `<head JSON>\n<body JSON>`. JSON.stringify never emits a raw newline, so the first
 * one splits the two. A watcher parses only the head (~150 bytes) however large the input,
 * result or snapshot in the body.
 */
export function encodeDoc(doc: TaskDoc): Uint8Array {
  const head: Record<string, unknown> = {};
  const body: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(doc)) {
    if (key === 'id' || value === undefined) continue;
    (HEAD_SET.has(key) ? head : body)[key] = value;
  }
  return encoder.encode(`${JSON.stringify(head)}\n${JSON.stringify(body)}`);
}

/** The head of a record written at `revision` (no parse). */
export function headOf(doc: TaskDoc, revision: number): TaskHead {
  const head: Record<string, unknown> = {};
  for (const key of HEAD_FIELDS) if (doc[key] !== undefined) head[key] = doc[key];
  if (doc.cancelRequested) head.cancelRequested = { ...doc.cancelRequested };
  if (!doc.seq) head.seq = revision;
  return head as TaskHead;
}

export function decodeHead(value: Uint8Array, revision: number): TaskHead {
  const end = value.indexOf(NEWLINE);
  const head = JSON.parse(decoder.decode(end < 0 ? value : value.subarray(0, end))) as TaskHead;
  if (!head.seq) head.seq = revision;
  return head;
}

export function decodeDoc(id: string, value: Uint8Array, revision: number): TaskDoc {
  const end = value.indexOf(NEWLINE);
  if (end < 0) throw new Error(`task ${id}: stored value is not a Reeve task record`);
  const head = decodeHead(value.subarray(0, end), revision);
  const body = JSON.parse(decoder.decode(value.subarray(end + 1))) as Omit<TaskDoc, keyof TaskHead | 'id'>;
  return { id, ...body, ...head };
}

/** The shared write rules' view of a stored task. */
export function writeTarget(doc: TaskDoc, revision: number): WriteTarget {
  return { id: doc.id, state: doc.state, owner: doc.owner, leaseExpiresAt: doc.leaseExpiresAt, revision };
}

/** What claim, submit and the other whole-task writes return: no history, no annotations. */
export function toStored(doc: TaskDoc, revision: number): StoredTask {
  const { seq: _seq, history: _history, outbox: _outbox, ...task } = doc;
  return { ...task, revision };
}

export function toFull(doc: TaskDoc, revision: number, annotations: Annotation[]): FullTask {
  const { seq: _seq, outbox: _outbox, ...task } = doc;
  return { ...task, annotations, revision };
}

/** `from`: the state of the record the write replaced. */
export function toWrite(doc: TaskDoc, revision: number, from: TaskState): TaskWrite {
  const write: TaskWrite = {
    id: doc.id,
    kind: doc.kind,
    state: doc.state,
    from,
    availableAt: doc.availableAt,
    attempts: doc.attempts,
    revision,
    updatedAt: doc.updatedAt,
  };
  if (doc.step !== undefined) write.step = doc.step;
  if (doc.owner !== undefined) write.owner = doc.owner;
  if (doc.leaseExpiresAt !== undefined) write.leaseExpiresAt = doc.leaseExpiresAt;
  if (doc.heartbeatAt !== undefined) write.heartbeatAt = doc.heartbeatAt;
  return write;
}

export interface ClaimFilter {
  now: number;
  excludeBreakerKeys: ReadonlySet<string>;
  kinds?: ReadonlySet<string> | undefined;
  breakerKeys?: ReadonlySet<string> | undefined;
}

export const QUEUE_STATES: ReadonlySet<TaskState> = new Set(['queued', 'backoff']);
export const CLEANUP_STATES: ReadonlySet<TaskState> = new Set(['cancelling', 'compensating']);

/** Claimable (DESIGN: unowned, available, queued/backoff or cleanup) and within the claim's filters. */
export function isClaimable(head: TaskHead, filter: ClaimFilter): boolean {
  return (
    head.owner === undefined &&
    (QUEUE_STATES.has(head.state) || CLEANUP_STATES.has(head.state)) &&
    head.availableAt <= filter.now &&
    !filter.excludeBreakerKeys.has(head.breakerKey) &&
    (filter.kinds === undefined || filter.kinds.has(head.kind)) &&
    (filter.breakerKeys === undefined || filter.breakerKeys.has(head.breakerKey))
  );
}
