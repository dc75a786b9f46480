import { ErrorCode } from '../errors.ts';
import type { Bus } from '../ports/bus.ts';

/**
 * An error that says "the store or NATS cannot be reached right now" rather than "this is a bug":
 * loops wait these out instead of crashing and spending their supervisor's restart budget.
 */
export function isOutage(err: unknown, bus: Pick<Bus, 'status'>): boolean {
  return bus.status !== 'online' || (err as { code?: string } | undefined)?.code === ErrorCode.StoreUnavailable;
}

/**
 * Wraps a loop tick: skipped while the bus is offline, and an outage error ends the tick with a
 * warning instead of a crash. Anything else still crashes the loop (and is restarted and counted).
 */
export function outageTolerant(bus: Pick<Bus, 'status'>, warn: (err: unknown) => void, tick: () => Promise<void>): () => Promise<void> {
  return async () => {
    if (bus.status !== 'online') return;
    try {
      await tick();
    } catch (err) {
      if (!isOutage(err, bus)) throw err;
      warn(err);
    }
  };
}
