import { describe, expect, it } from 'vitest';
import { backoffDelay } from '../../src/machines/backoff.ts';

describe('backoffDelay', () => {
  it('starts at firstMs, grows by factor and stops at maxMs', () => {
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(n, { firstMs: 250, maxMs: 2_000 }))).toEqual([250, 500, 1_000, 2_000, 2_000, 2_000]);
    expect([0, 1, 2, 8].map((n) => backoffDelay(n, { firstMs: 50, maxMs: 1_000, factor: 1.5 }))).toEqual([50, 75, 113, 1_000]);
  });

  it('stays at maxMs after any number of retries and treats a negative attempt as the first', () => {
    expect(backoffDelay(10_000, { firstMs: 100, maxMs: 2_000 })).toBe(2_000);
    expect(backoffDelay(-3, { firstMs: 100, maxMs: 2_000 })).toBe(100);
  });
});
