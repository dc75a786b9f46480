import type { Approval, Attempts, CompensationRecord, FailureClass, Feedback, Json, TaskError } from '../protocol/task.ts';

/** One step of a kind's pipeline, as the machine needs it (handlers live with the runner). */
export interface StepSpec {
  name: string;
  /** Whether the step has a `compensate` handler. */
  compensable: boolean;
  /** How many times the step may be entered (routing loops); default 3 in config. */
  maxVisits: number;
  /** What a `goto` past `maxVisits` does: fail the task, or wait for a person. */
  onMaxVisits: 'fail' | 'wait';
}

/**
 * The kind's policy as it is when an attempt starts. It arrives with every `task.claimed`
 * (and `task.reopen`), so a fix deployed after a failure is used by the next attempt: tasks
 * reference their kind by name, never a frozen copy.
 */
export interface SagaPolicy {
  steps: StepSpec[];
  retry: {
    transient: { maxAttempts: number; baseMs: number; maxMs: number };
    permanent: { maxAttempts: number; baseMs: number; maxMs: number };
  };
  /** The crash that brings `attempts.crashes` to this quarantines the task. */
  crashLimit: number;
  /** How a timeout counts: `permanent` (default) or `transient`. */
  timeoutIs: 'permanent' | 'transient';
  /** A provider's Retry-After is honoured up to this. */
  maxRetryAfterMs: number;
  /**
   * Poison detection: this many permanent failures in a row with the same fingerprint stop
   * the retries early (`REPEATED_FAILURE`). 0 turns it off.
   */
  poisonRepeats: number;
}

export interface SagaInput {
  taskId: string;
  policy: SagaPolicy;
}

export type SagaOutcome = 'failed' | 'cancelled';

export interface SagaContext {
  taskId: string;
  policy: SagaPolicy;
  /** Index into `policy.steps` of the step running, next to run, or waiting for approval. */
  stepIndex: number;
  /** How many times each step has been entered. */
  visits: Record<string, number>;
  /** Completed steps, in completion order (a step completed again moves to the end). */
  completed: string[];
  /** Output of each completed step; the last step's output is the task's result. */
  outputs: Record<string, Json>;
  attempts: Attempts;
  /** When a task in backoff may be claimed again (epoch ms). */
  availableAt?: number | undefined;
  result?: Json | undefined;
  error?: TaskError | undefined;
  /** What `compensating` ends in when every compensation is done. */
  outcome?: SagaOutcome | undefined;
  /** Compensations still to run, head first (reverse completion order). */
  pendingCompensations: string[];
  compensations: CompensationRecord[];
  /** Fingerprints of the latest failed attempts, newest last (at most 10). */
  fingerprints?: string[] | undefined;
  /** Why the last transition happened: the actor writes it to the task's history. */
  note: string;
  /** The approval the next step sees as `ctx.approval`; cleared when that step completes. */
  approval?: Approval | undefined;
  /** Why the current step runs again (`ctx.feedback`); cleared when it completes. */
  feedback?: Feedback | undefined;
}

export interface Failure {
  class: FailureClass;
  code?: string;
  message: string;
  /** A provider's hint (Retry-After), already parsed to ms. */
  retryAfterMs?: number;
}

export type StepRoute = { goto: string } | { wait: 'approval' };

/** A gate's verdict on the step it checked, as the machine records it (see gate-verdict.ts). */
export interface GateNote {
  pass: boolean;
  reason?: string;
}

/** Every event carries `now`: the machine never reads a clock. */
export type SagaEvent =
  | { type: 'task.claimed'; now: number; policy: SagaPolicy; attempts: Attempts }
  /** `gate`: the step's gate judged it (a failed gate arrives here only with a `goto` route). */
  | { type: 'step.succeeded'; now: number; output?: Json; route?: StepRoute; gate?: GateNote }
  /** `jitter` in [0, 1) picks the full-jitter delay; the caller draws it so the machine stays pure. */
  | { type: 'attempt.failed'; now: number; failure: Failure; jitter: number }
  | { type: 'task.handback'; now: number; reason: string }
  | { type: 'task.cancel'; now: number; reason: string }
  | { type: 'run.stopped'; now: number }
  | { type: 'compensation.succeeded'; now: number; step: string }
  | { type: 'compensation.failed'; now: number; step: string; message: string }
  | { type: 'task.approve'; now: number; by: string; input?: Json; reason?: string }
  /** With `goto`, the task goes back to that step (bounded by its maxVisits) instead of failing. */
  | { type: 'task.reject'; now: number; by: string; reason: string; goto?: string }
  | { type: 'task.annotate'; now: number }
  | { type: 'task.reopen'; now: number; policy: SagaPolicy; reason: string };

export type SagaEventType = SagaEvent['type'];
