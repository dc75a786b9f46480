import { ReeveError, toError } from '../errors.ts';
import type { Logger } from '../ports/logger.ts';

/**
 * A subscriber's handler threw or rejected. Logged at error (it is a bug in the subscriber,
 * which a person must fix) and contained: other subscribers and later messages are unaffected.
 */
export function reportHandlerFailure(log: Logger, thrown: unknown, subject: string, pattern: string): void {
  const err = toError(thrown);
  log.error({ err, code: err instanceof ReeveError ? err.code : undefined, subject, pattern }, 'bus handler failed');
}
