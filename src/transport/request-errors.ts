import { ErrorCode, ReeveError } from '../errors.ts';

/**
 * The errors of a request that got no answer, shared by both buses. STORE_UNAVAILABLE, because
 * to a caller (the CLI asking a node to drain, a node asking for a status) an unanswered request
 * means the cluster is unreachable: exit code 5, "check that a node runs".
 */
export function requestTimedOut(subject: string, timeoutMs: number, cause?: unknown): ReeveError {
  return new ReeveError(
    ErrorCode.StoreUnavailable,
    `no reply on ${subject} within ${timeoutMs} ms; check that a Reeve node is running and connected`,
    { cause, data: { subject, timeoutMs, reason: 'timeout' } },
  );
}

export function noResponders(subject: string, cause?: unknown): ReeveError {
  return new ReeveError(
    ErrorCode.StoreUnavailable,
    `nothing is subscribed to ${subject}; check that a Reeve node is running and connected`,
    { cause, data: { subject, reason: 'no-responders' } },
  );
}

export function busClosed(subject: string): ReeveError {
  return new ReeveError(ErrorCode.StoreUnavailable, `the bus is closed; cannot use ${subject}`, {
    data: { subject, reason: 'closed' },
  });
}

/** Any other failure of a request (a permission the server refused, a broken connection). */
export function requestFailed(subject: string, cause: Error): ReeveError {
  return new ReeveError(
    ErrorCode.StoreUnavailable,
    `request on ${subject} failed: ${cause.message}; check that NATS is reachable and this user may publish there`,
    { cause, data: { subject, reason: 'failed' } },
  );
}

export function offlineRequest(subject: string): ReeveError {
  return new ReeveError(ErrorCode.StoreUnavailable, `NATS is unreachable (reconnecting); cannot send ${subject}; check that nats-server runs`, {
    data: { subject, reason: 'offline' },
  });
}
