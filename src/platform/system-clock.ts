import type { Clock } from '../ports/clock.ts';
import type { Timers } from '../ports/timers.ts';

/** The real clock. Everything that reads time takes a `Clock` so tests can pass a fake. */
export const systemClock: Clock = { now: () => Date.now() };

/** The real timers, for what takes a `Timers` port (supervisors, loops). */
export const realTimers: Timers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };
