import { describe, expect, it } from 'vitest';
import { Dispatcher, type DispatcherDeps } from '../../src/actors/dispatcher.ts';
import { recordingLogger } from '../support/recording-logger.ts';

const unused = () => {
  throw new Error('not used by this test');
};
const deps: DispatcherDeps = {
  store: { claim: unused },
  owner: 'n:1',
  leaseTtlMs: 30_000,
  concurrency: 1,
  plans: () => new Map(),
  breakers: { refresh: unused, gates: unused, takeProbe: unused },
  kindReady: () => true,
  release: unused,
  startSaga: unused,
  log: recordingLogger(),
};
/** Whether the promise settles within a few turns of the microtask queue (no timer can fire). */
async function settlesAtOnce(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void p.then(() => (settled = true));
  for (let i = 0; i < 5; i++) await Promise.resolve();
  return settled;
}

describe('dispatcher wake-ups', () => {
  it('keeps a wake that came while nobody waited (mid claim round) for the next wait, once', async () => {
    const d = new Dispatcher(deps);
    const stop = new AbortController();
    d.wake();
    expect(await settlesAtOnce(d.waitForWork(60_000, stop.signal))).toBe(true);
    expect(await settlesAtOnce(d.waitForWork(60_000, stop.signal))).toBe(false);
    stop.abort();
  });

  it('wakes a pending wait', async () => {
    const d = new Dispatcher(deps);
    const waiting = d.waitForWork(60_000);
    d.wake();
    expect(await settlesAtOnce(waiting)).toBe(true);
  });
});
