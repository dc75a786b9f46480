import type { Clock } from '../ports/clock.ts';

/** The real clock. Everything that reads time takes a `Clock` so tests can pass a fake. */
export const systemClock: Clock = { now: () => Date.now() };
