import type { StaleRequeueOptions } from '../../ports/task-store.ts';
import type { TaskState } from '../../protocol/task-states.ts';
import { ZERO_ATTEMPTS, type Json, type SubmitRequest, type TaskError } from '../../protocol/task.ts';
import type { ParsedTransition } from '../request-schemas.ts';
import * as rules from '../write-rules.ts';
import { QUEUE_STATES, writeTarget, type TaskDoc } from './codec.ts';
import type { Versioned } from './task-keys.ts';
import type { NotificationRecorder } from '../notifications.ts';

/**
 * Every task write of the KV adapter as a pure function: fresh record in, next record out.
 * Each one runs the shared rules of `write-rules.ts` first (they throw the same errors as on
 * SQLite) and mirrors the SQLite adapter field by field, so both stores hold the same record
 * after the same calls.
 */

type OptionalKey = 'step' | 'owner' | 'leaseExpiresAt' | 'heartbeatAt' | 'error' | 'result' | 'snapshot' | 'cancelRequested';

/** Sets an optional field, or removes it for `undefined` (no `undefined` keys in records). */
function setOptional<K extends OptionalKey>(doc: TaskDoc, key: K, value: TaskDoc[K] | undefined): void {
  if (value === undefined) delete doc[key];
  else doc[key] = value as TaskDoc[K];
}

function withHistory(doc: TaskDoc, from: TaskState, to: TaskState, reason: string, now: number): TaskDoc['history'] {
  return [...doc.history, { at: now, from, to, reason }];
}

/**
 * Adds the notification of this change (when it is one the recorder records) to the record, so
 * that it is written by the same compare-and-set (SQLite writes it in the same transaction).
 */
function withNotification(next: TaskDoc, from: TaskState, recorder: NotificationRecorder | undefined, now: number): TaskDoc {
  const notification = recorder?.forTask(next, from, now);
  if (notification) next.outbox = [...(next.outbox ?? []), notification];
  return next;
}

/** Leaves the task to nobody (SQLite's `#unchanged`). */
function released(doc: TaskDoc, now: number): TaskDoc {
  const next: TaskDoc = { ...doc, updatedAt: now };
  setOptional(next, 'owner', undefined);
  setOptional(next, 'leaseExpiresAt', undefined);
  setOptional(next, 'heartbeatAt', undefined);
  return next;
}

export function newTaskDoc(id: string, req: SubmitRequest, now: number): TaskDoc {
  const doc: TaskDoc = {
    id,
    kind: req.kind,
    state: 'queued',
    priority: req.priority ?? 0,
    breakerKey: req.breakerKey ?? req.kind,
    attempts: { ...ZERO_ATTEMPTS },
    availableAt: now,
    createdAt: now,
    updatedAt: now,
    compensations: [],
    history: [{ at: now, from: null, to: 'queued', reason: 'submitted' }],
    seq: 0,
  };
  if (req.timeoutMs !== undefined) doc.timeoutMs = req.timeoutMs;
  if (req.labels !== undefined) doc.labels = req.labels;
  // A JSON null input is stored as no input, as on SQLite.
  if (req.input !== undefined && req.input !== null) doc.input = req.input;
  return doc;
}

/** Leases a claimable task: queued/backoff become running (recorded as one step), cleanup states stay. */
export function claimDoc(doc: TaskDoc, owner: string, leaseTtlMs: number, now: number): TaskDoc {
  const state: TaskState = QUEUE_STATES.has(doc.state) ? 'running' : doc.state;
  return {
    ...doc,
    state,
    owner,
    leaseExpiresAt: now + leaseTtlMs,
    heartbeatAt: now,
    updatedAt: now,
    history: withHistory(doc, doc.state, state, `claimed by ${owner}`, now),
  };
}

export function transitionDoc({ doc, revision }: Versioned, req: ParsedTransition, now: number, recorder?: NotificationRecorder): TaskDoc {
  const target = writeTarget(doc, revision);
  rules.checkTransition(target, req, now);
  const lease = rules.leaseAfter(target, req, now);
  const step = req.step === undefined ? doc.step : (req.step ?? undefined);
  const next: TaskDoc = { ...doc, state: req.to, updatedAt: now };
  setOptional(next, 'step', step);
  setOptional(next, 'owner', lease.owner);
  setOptional(next, 'leaseExpiresAt', lease.leaseExpiresAt);
  setOptional(next, 'heartbeatAt', lease.owner ? doc.heartbeatAt : undefined);
  if (req.availableAt !== undefined) next.availableAt = req.availableAt;
  if (req.attempts !== undefined) next.attempts = req.attempts;
  if (req.result !== undefined) next.result = req.result;
  if (req.error !== undefined) setOptional(next, 'error', (req.error ?? undefined) as TaskError | undefined);
  if (req.compensations !== undefined) next.compensations = req.compensations as TaskDoc['compensations'];
  if (req.snapshot !== undefined) next.snapshot = req.snapshot;
  // A change of state is always recorded; `record` decides for the rest (see TransitionRequest).
  if (req.to !== doc.state || (req.record ?? step !== doc.step)) {
    const reason = step && step !== doc.step ? `${req.reason} [step ${step}]` : req.reason;
    next.history = withHistory(doc, doc.state, req.to, reason, now);
  }
  return withNotification(next, doc.state, recorder, now);
}

export function heartbeatDoc(
  { doc, revision }: Versioned,
  req: { owner: string; revision: number; leaseTtlMs: number; details?: Json | undefined },
  now: number,
): TaskDoc {
  rules.checkHeartbeat(writeTarget(doc, revision), req, now);
  const next: TaskDoc = { ...doc, leaseExpiresAt: now + req.leaseTtlMs, heartbeatAt: now, updatedAt: now };
  if (req.details !== undefined) next.progress = req.details;
  return next;
}

export function requeueStaleDoc({ doc, revision: current }: Versioned, revision: number, options: StaleRequeueOptions, now: number, recorder?: NotificationRecorder): TaskDoc {
  const target = writeTarget(doc, current);
  rules.checkStaleRequeue(target, revision, now, options.deadOwner);
  const died = options.deadOwner !== undefined && doc.owner === options.deadOwner;
  const outcome = rules.staleOutcome(target, doc.attempts.crashes, options.crashLimit, died);
  const next = released(doc, now);
  next.state = outcome.to;
  next.attempts = { ...doc.attempts, crashes: outcome.crashes };
  next.availableAt = now;
  if (outcome.quarantined) next.error = { class: 'lost-lease', code: 'CRASH_LIMIT', message: outcome.reason };
  next.history = withHistory(doc, doc.state, outcome.to, outcome.reason, now);
  return withNotification(next, doc.state, recorder, now);
}

/** undefined: the task is already flagged and nothing changes. */
export function cancelRequestDoc({ doc, revision }: Versioned, reason: string, now: number): TaskDoc | undefined {
  const outcome = rules.cancelRequestOutcome({ ...writeTarget(doc, revision), hasRun: doc.snapshot !== undefined });
  if (outcome.flagOnly && doc.cancelRequested !== undefined) return undefined;
  const next: TaskDoc = { ...doc, state: outcome.to, cancelRequested: { at: now, reason }, updatedAt: now };
  if (!outcome.flagOnly) {
    next.availableAt = now;
    next.history = withHistory(doc, doc.state, outcome.to, `cancel requested: ${reason}`, now);
  }
  return next;
}

export function reopenDoc({ doc, revision }: Versioned, reason: string, now: number): TaskDoc {
  rules.checkReopen(writeTarget(doc, revision));
  const next = released(doc, now);
  next.state = 'queued';
  next.attempts = { ...ZERO_ATTEMPTS };
  next.availableAt = now;
  next.compensations = [];
  for (const key of ['step', 'result', 'error', 'snapshot', 'cancelRequested'] as const) setOptional(next, key, undefined);
  next.history = withHistory(doc, doc.state, 'queued', `reopened: ${reason} (${rules.reopenSummary(doc)})`, now);
  return next;
}

