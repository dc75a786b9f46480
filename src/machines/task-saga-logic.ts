import type { Attempts, CompensationRecord, TaskError } from '../protocol/task.ts';
import type { Failure, SagaContext, SagaPolicy, StepSpec } from './task-saga-types.ts';

/** Pure decisions of the task saga, kept out of the machine definition so each is testable alone. */

export type CountedAs = 'transient' | 'permanent' | 'crashes' | 'none';

/** Which budget a failed attempt draws on. A cancel counts nothing. */
export function countedAs(failure: Failure, policy: SagaPolicy): CountedAs {
  switch (failure.class) {
    case 'transient':
      return 'transient';
    case 'permanent':
      return 'permanent';
    case 'timeout':
      return policy.timeoutIs;
    case 'lost-lease':
      return 'crashes';
    case 'cancelled':
      return 'none';
  }
}

export function addFailure(attempts: Attempts, counted: CountedAs): Attempts {
  return counted === 'none' ? attempts : { ...attempts, [counted]: attempts[counted] + 1 };
}

/** `maxAttempts` is how many failures of a class a task may have: reaching it gives up. */
export function isExhausted(attempts: Attempts, counted: CountedAs, policy: SagaPolicy): boolean {
  if (counted === 'none') return false;
  if (counted === 'crashes') return attempts.crashes >= policy.crashLimit;
  return attempts[counted] >= policy.retry[counted].maxAttempts;
}

/**
 * Exponential backoff with full jitter, capped at `maxMs`, never shorter than the provider's
 * Retry-After (itself capped at `maxRetryAfterMs`). `failures` is the count including this one.
 */
export function backoffDelayMs(policy: SagaPolicy, counted: 'transient' | 'permanent', failures: number, jitter: number, retryAfterMs?: number): number {
  const { baseMs, maxMs } = policy.retry[counted];
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, failures - 1));
  const jittered = Math.floor(Math.min(Math.max(jitter, 0), 0.999999) * ceiling);
  const hint = retryAfterMs === undefined ? 0 : Math.min(Math.max(retryAfterMs, 0), policy.maxRetryAfterMs);
  return Math.max(jittered, hint);
}

export function currentStep(context: SagaContext): StepSpec | undefined {
  return context.policy.steps[context.stepIndex];
}

export function isLastStep(context: SagaContext): boolean {
  return context.stepIndex >= context.policy.steps.length - 1;
}

export function stepIndexOf(context: SagaContext, name: string): number {
  return context.policy.steps.findIndex((s) => s.name === name);
}

/** Marks the current step completed (moving it to the end if it completed before). */
export function completeCurrent(context: SagaContext): string[] {
  const name = currentStep(context)?.name;
  if (name === undefined) return context.completed;
  return [...context.completed.filter((n) => n !== name), name];
}

/** Compensations to run: completed steps that have a compensator, newest first. */
export function compensationPlan(completed: readonly string[], steps: readonly StepSpec[]): string[] {
  const compensable = new Set(steps.filter((s) => s.compensable).map((s) => s.name));
  return completed.filter((n) => compensable.has(n)).reverse();
}

export function enterStep(visits: Record<string, number>, name: string | undefined): Record<string, number> {
  return name === undefined ? visits : { ...visits, [name]: (visits[name] ?? 0) + 1 };
}

export function canVisit(context: SagaContext, name: string): boolean {
  const step = context.policy.steps[stepIndexOf(context, name)];
  return step !== undefined && (context.visits[name] ?? 0) < step.maxVisits;
}

export function failureError(failure: Failure): TaskError {
  return failure.code === undefined
    ? { class: failure.class, message: failure.message }
    : { class: failure.class, code: failure.code, message: failure.message };
}

/** Records for the compensations that will not run because an earlier one failed. */
export function skipRest(pending: readonly string[], failedStep: string, now: number): CompensationRecord[] {
  return pending.map((step) => ({
    step,
    status: 'skipped' as const,
    at: now,
    reason: `not run: the compensation of ${failedStep} failed first, so the task is quarantined for a person to finish`,
  }));
}

/**
 * What makes two failures "the same": the class and the message with numbers, hex ids and
 * paths taken out, so `timeout after 3012 ms in /tmp/run-8f3a` matches `… 2950 ms in /tmp/run-77b1`.
 */
export function failureFingerprint(failure: Failure): string {
  const message = failure.message
    .replace(/(?:\/[\w.-]+)+/g, '<path>')
    .replace(/\b[0-9a-f]{8,}\b|\b[0-9a-f-]{36}\b/gi, '<id>')
    .replace(/\d+(?:\.\d+)?/g, '#')
    .trim()
    .slice(0, 500);
  return `${failure.class}:${failure.code ?? ''}:${message}`;
}

/** The last `repeats` permanent failures, this one included, share one fingerprint. */
export function isRepeatedFailure(previous: readonly string[] | undefined, failure: Failure, policy: SagaPolicy): boolean {
  const k = policy.poisonRepeats;
  if (k <= 1 || countedAs(failure, policy) !== 'permanent') return false;
  const recent = [...(previous ?? []), failureFingerprint(failure)].slice(-k);
  return recent.length === k && recent.every((f) => f === recent[0]);
}
