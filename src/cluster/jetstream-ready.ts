/**
 * Waiting out a JetStream that is reachable but not ready yet.
 *
 * A node that starts together with a fresh cluster, or right after a server restart, can be
 * connected while JetStream still has no leader for the streams it just created: a put then
 * fails with "no responders" or 503 "jetstream is not enabled" for a few seconds (seen here
 * when two nodes created an R3 bucket at once). That is not a reason to exit, so start-up
 * retries such failures for `nats.startupTimeoutMs`; a config conflict (CONFIG_INVALID) or
 * anything else still fails at once.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, toError } from '../errors.ts';
import type { Logger } from '../ports/logger.ts';

export interface ReadyOptions {
  /** Give up (rethrow the last error) after this long. */
  timeoutMs: number;
  log: Logger;
  /** First pause between tries; doubles up to 2 s. */
  pauseMs?: number;
}

const isUnavailable = (err: unknown): boolean => (err as { code?: string } | undefined)?.code === ErrorCode.StoreUnavailable;

/**
 * Runs `op` until it does not fail with STORE_UNAVAILABLE, for at most `timeoutMs`. Logs the first
 * failure as a warning and the recovery as info, so an operator sees why start-up pauses.
 */
export async function untilJetStreamAnswers<T>(what: string, op: () => Promise<T>, options: ReadyOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let pause = options.pauseMs ?? 250;
  for (let tries = 1; ; tries++) {
    try {
      const value = await op();
      if (tries > 1) options.log.info({ what, tries }, 'JetStream answers now');
      return value;
    } catch (err) {
      if (!isUnavailable(err) || Date.now() + pause > deadline) throw err;
      if (tries === 1) options.log.warn({ what, err: toError(err).message, timeoutMs: options.timeoutMs }, 'JetStream is not ready yet; retrying');
      await sleep(pause);
      pause = Math.min(pause * 2, 2_000);
    }
  }
}
