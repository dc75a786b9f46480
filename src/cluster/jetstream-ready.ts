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
import { ConnectionError, NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';
import { ErrorCode, ReeveError, toError } from '../errors.ts';
import type { Logger } from '../ports/logger.ts';
import { TOKEN_TTL_MS } from '../store/kv/serial-cas.ts';
import { backoffDelay } from '../machines/backoff.ts';

export interface ReadyOptions {
  /** Give up (rethrow the last error) after this long. */
  timeoutMs: number;
  log: Logger;
  /** First pause between tries; doubles up to 2 s. */
  pauseMs?: number;
  /** The warning logged on the first failure; default "JetStream is not ready yet; retrying". */
  waiting?: string;
}

/**
 * STORE_UNAVAILABLE (the store's wrapper of timeouts, no responders, a lost connection, a write
 * token held by a dead writer), or the NATS client's own errors for the same things when they
 * reach here unwrapped. A failover produces them for a few seconds.
 */
export function isUnavailable(err: unknown): boolean {
  if ((err as { code?: string } | undefined)?.code === ErrorCode.StoreUnavailable) return true;
  return err instanceof TimeoutError || err instanceof NoRespondersError || err instanceof ConnectionError || err instanceof RequestError;
}

/**
 * Runs `op` until it does not fail with STORE_UNAVAILABLE (see isUnavailable), for at most
 * `timeoutMs`. Logs the first failure as a warning and the recovery as info, so an operator sees
 * why start-up pauses. Past the bound the last error is rethrown as STORE_UNAVAILABLE, saying
 * how long it was retried.
 */
export async function untilJetStreamAnswers<T>(what: string, op: () => Promise<T>, options: ReadyOptions): Promise<T> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  for (let tries = 1; ; tries++) {
    try {
      const value = await op();
      if (tries > 1) options.log.info({ what, tries }, 'JetStream answers now');
      return value;
    } catch (err) {
      const pause = backoffDelay(tries - 1, { firstMs: options.pauseMs ?? 250, maxMs: 2_000 });
      if (!isUnavailable(err)) throw err;
      if (Date.now() + pause > deadline) throw gaveUp(err, what, tries, Date.now() - started);
      if (tries === 1) options.log.warn({ what, err: toError(err).message, timeoutMs: options.timeoutMs }, options.waiting ?? 'JetStream is not ready yet; retrying');
      await sleep(pause);
    }
  }
}

function gaveUp(err: unknown, what: string, tries: number, elapsedMs: number): unknown {
  if (tries === 1) return err instanceof ReeveError ? err : new ReeveError(ErrorCode.StoreUnavailable, `${what} failed: ${toError(err).message}`, { cause: err });
  const message = toError(err).message;
  const prefix = message.includes(what) ? message : `${what} failed: ${message}`;
  return new ReeveError(
    ErrorCode.StoreUnavailable,
    `${prefix} (still failing after ${tries} tries over ${Math.round(elapsedMs / 1000)} s; check that a majority of the NATS servers is up, or raise nats.startupTimeoutMs)`,
    { cause: err },
  );
}

/**
 * How a cluster node runs its start-up reads and writes (recording itself, taking back its
 * previous incarnation's tasks): each rides out a failover (a server lost and the client on
 * another, a stream leader re-elected) and a write token left by a killed incarnation, which
 * blocks its node record for up to TOKEN_TTL_MS (serial-cas.ts). Bound: `nats.startupTimeoutMs`,
 * and at least the token's lifetime plus a margin. Embedded mode runs them once.
 */
export function startupSteps(mode: 'embedded' | 'cluster', startupTimeoutMs: number, log: Logger): <T>(what: string, op: () => Promise<T>) => Promise<T> {
  if (mode !== 'cluster') return (_what, op) => op();
  const timeoutMs = Math.max(startupTimeoutMs, TOKEN_TTL_MS + 5_000);
  const waiting = 'the store does not answer yet (a NATS server failing over, or a record still held by a killed incarnation); retrying';
  return (what, op) => untilJetStreamAnswers(what, op, { timeoutMs, log, waiting });
}
