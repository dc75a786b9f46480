/**
 * The delay before retry number `attempt` (0 = the first retry) of a plain retry loop: `firstMs`,
 * multiplied by `factor` at each retry, never more than `maxMs`. Pure, so every loop that waits
 * out an outage (JetStream readiness, the intake's nak delays, the client's polling, a saga
 * actor's write retries) backs off the same way. The saga's and the supervisor's own delays keep
 * their formulas (full jitter, persisted deadlines) in task-saga-logic.ts and supervisor-policy.ts.
 */
export interface Backoff {
  firstMs: number;
  maxMs: number;
  /** Growth per retry. Default 2. */
  factor?: number;
}

export function backoffDelay(attempt: number, { firstMs, maxMs, factor = 2 }: Backoff): number {
  // The exponent is capped so that a loop that has retried for days does not reach Infinity/NaN.
  const exponent = Math.min(Math.max(0, attempt), 64);
  return Math.round(Math.min(maxMs, firstMs * factor ** exponent));
}
