import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loopChild } from '../../src/actors/loop-child.ts';
import type { Timers } from '../../src/ports/timers.ts';

const timers: Timers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) };
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeEach(() => {
  vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('loopChild', () => {
  it('is a permanent child unless told otherwise', () => {
    const tick = () => undefined;
    expect(loopChild({ id: 'reaper', intervalMs: 10, tick, timers }).restart).toBe('permanent');
    expect(loopChild({ id: 'reaper', restart: 'transient', intervalMs: 10, tick, timers }).restart).toBe('transient');
  });

  it('waits intervalMs after each tick ends before starting the next', async () => {
    const startedAt: number[] = [];
    const handle = await loopChild({
      id: 'heartbeat',
      intervalMs: 100,
      timers,
      tick: async () => {
        startedAt.push(Date.now());
        await sleep(50);
      },
    }).start();
    const t0 = Date.now();
    await vi.advanceTimersByTimeAsync(400);
    expect(startedAt.map((t) => t - t0)).toEqual([0, 150, 300]);
    await handle.stop();
  });

  it('on stop, aborts the signal, waits for the tick in flight and resolves done', async () => {
    const seen: string[] = [];
    const handle = await loopChild({
      id: 'dispatch',
      intervalMs: 100,
      timers,
      tick: async (signal) => {
        seen.push(`tick aborted=${signal.aborted}`);
        await sleep(1_000);
        seen.push(`tick ends aborted=${signal.aborted}`);
      },
    }).start();
    let isStopped = false;
    const stopping = handle.stop().then(() => (isStopped = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(isStopped).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await stopping;
    expect(seen).toEqual(['tick aborted=false', 'tick ends aborted=true']);
    await expect(handle.done).resolves.toBeUndefined();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(seen).toHaveLength(2); // no tick after the stop
  });

  it('stops promptly while waiting between ticks', async () => {
    let ticks = 0;
    const handle = await loopChild({ id: 'renew', intervalMs: 60_000, timers, tick: () => {
      ticks++;
    } }).start();
    await vi.advanceTimersByTimeAsync(0);
    await handle.stop();
    await expect(handle.done).resolves.toBeUndefined();
    expect(ticks).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('rejects done with the error of a tick that throws, so the supervisor sees a crash', async () => {
    let ticks = 0;
    const boom = new Error('store unavailable');
    const handle = await loopChild({
      id: 'reaper',
      intervalMs: 100,
      timers,
      tick: () => {
        if (++ticks === 2) throw boom;
      },
    }).start();
    const outcome = handle.done.then(
      () => 'resolved',
      (err: unknown) => err,
    );
    await vi.advanceTimersByTimeAsync(100);
    expect(await outcome).toBe(boom);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ticks).toBe(2);
  });

  it('does not count a tick that throws because it was aborted as a crash', async () => {
    const handle = await loopChild({
      id: 'dispatch',
      intervalMs: 100,
      timers,
      tick: (signal) =>
        new Promise<void>((_, reject) => signal.addEventListener('abort', () => reject(new Error('aborted')))),
    }).start();
    await handle.stop();
    await expect(handle.done).resolves.toBeUndefined();
  });
});
