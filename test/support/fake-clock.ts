import type { Clock } from '../../src/ports/clock.ts';

/** A clock that moves only when the test says so. */
export class FakeClock implements Clock {
  constructor(private current = Date.UTC(2026, 0, 1)) {}
  now(): number {
    return this.current;
  }
  advance(ms: number): number {
    this.current += ms;
    return this.current;
  }
}
