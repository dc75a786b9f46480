import { describe, expect, it } from 'vitest';
import { backgroundCounts } from '../../src/actors/beacon-counts.ts';

describe('backgroundCounts (task counts for a node beacon)', () => {
  it('never waits for a count, runs one at a time, and gives none older than maxAgeMs', async () => {
    let now = 0;
    const pending: Array<(counts: { queued: number }) => void> = [];
    let started = 0;
    const counts = backgroundCounts(
      () => {
        started++;
        return new Promise((resolve) => pending.push(resolve));
      },
      () => now,
      2_000,
    );
    expect(counts()).toBeUndefined(); // the first count is still running: the beacon goes without
    expect(counts()).toBeUndefined();
    expect(started).toBe(1); // a count already running is not started again

    pending.shift()!({ queued: 3 });
    await new Promise((r) => setImmediate(r));
    now = 1_000;
    expect(counts()).toEqual({ queued: 3 }); // and starts the next count
    expect(started).toBe(2);
    now = 2_001; // the next count hangs (an index re-syncing): the old one ages out
    expect(counts()).toBeUndefined();
    expect(started).toBe(2);
  });

  it('keeps going after a count fails', async () => {
    let fail = true;
    const counts = backgroundCounts(() => (fail ? Promise.reject(new Error('store down')) : Promise.resolve({ running: 1 })), () => 0);
    expect(counts()).toBeUndefined();
    await new Promise((r) => setImmediate(r));
    fail = false;
    expect(counts()).toBeUndefined();
    await new Promise((r) => setImmediate(r));
    expect(counts()).toEqual({ running: 1 });
  });
});
