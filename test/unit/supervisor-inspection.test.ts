import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loopChild } from '../../src/actors/loop-child.ts';
import { startRootSupervisor, supervisorChild, type ChildSpec } from '../../src/actors/supervisor.ts';
import { InspectionHub } from '../../src/http/inspect/hub.ts';
import { createNodeInspection } from '../../src/http/inspect/node-inspection.ts';
import type { Clock } from '../../src/ports/clock.ts';
import { silentLogger } from '../../src/ports/logger.ts';
import type { Timers } from '../../src/ports/timers.ts';

/** The supervision tree as the inspector sees it, through the real inspection adapter. */
const timers: Timers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) };
const clock: Clock = { now: () => Date.now() };
const ROOT = 'reeve:n1:root';
const spec = { strategy: 'one_for_one' as const, intensity: { maxRestarts: 5, periodMs: 60_000 }, backoff: { baseMs: 100, maxMs: 1_000 } };

let sent: any[];
let inspection: ReturnType<typeof createNodeInspection>;

beforeEach(() => {
  vi.useFakeTimers({ now: Date.UTC(2026, 0, 1) });
  const hub = new InspectionHub();
  inspection = createNodeInspection({ hub, maxContextBytes: 4096, secrets: [], log: silentLogger });
  sent = [];
  hub.attach({ send: (text) => sent.push(JSON.parse(text)) });
});
afterEach(() => {
  vi.useRealTimers();
});

const actors = () => sent.filter((e) => e.type === '@xstate.actor').map((e) => [e.sessionId, e.parentId]);
const snapshotsOf = (id: string) => sent.filter((e) => e.type === '@xstate.snapshot' && e.sessionId === id).map((e) => [e.snapshot.status, e.snapshot.value]);

function start(children: ChildSpec[]) {
  return startRootSupervisor({ id: 'root', sessionId: ROOT, inspection, spec, children, log: silentLogger, clock, timers, onEscalate: () => undefined });
}

describe('supervisor inspection', () => {
  it('shows the root, its loop children and a nested supervisor with its own children', async () => {
    const root = await start([
      loopChild({ id: 'beacon', intervalMs: 1000, timers, tick: () => undefined }),
      supervisorChild({ id: 'inner', spec, children: [loopChild({ id: 'worker', intervalMs: 1000, timers, tick: () => undefined })], log: silentLogger, clock, timers }),
    ]);
    expect(actors()).toEqual([
      [ROOT, undefined],
      [`${ROOT}/beacon`, ROOT],
      [`${ROOT}/inner`, ROOT],
      [`${ROOT}/inner/worker`, `${ROOT}/inner`],
    ]);
    expect(sent.find((e) => e.sessionId === `${ROOT}/inner/worker`).rootId).toBe(ROOT);
    await root.stop();
    expect(snapshotsOf(`${ROOT}/beacon`)).toEqual([['stopped', 'stopped']]);
    expect(snapshotsOf(ROOT).at(-1)).toEqual(['stopped', 'stopping']);
  });

  it('shows a crashed child as crashed, then its restart as a new actor under the same parent with the count', async () => {
    let ticks = 0;
    const root = await start([loopChild({ id: 'sweeper', intervalMs: 10, timers, tick: () => {
      if (++ticks === 2) throw new Error('store said no');
    } })]);
    await vi.advanceTimersByTimeAsync(10);
    expect(snapshotsOf(`${ROOT}/sweeper`)).toEqual([['error', 'crashed']]);
    const crash = sent.find((e) => e.type === '@xstate.event' && e.sessionId === `${ROOT}/sweeper`);
    expect(crash.event).toMatchObject({ type: 'child.crashed', message: 'store said no' });
    expect(sent.find((e) => e.type === '@xstate.event' && e.sessionId === ROOT)).toMatchObject({ event: { type: 'child.crashed', child: 'sweeper' }, sourceId: `${ROOT}/sweeper` });
    expect(snapshotsOf(ROOT).at(-1)).toEqual(['active', 'restarting']);
    await vi.advanceTimersByTimeAsync(100);
    const again = sent.find((e) => e.type === '@xstate.actor' && e.sessionId === `${ROOT}/sweeper@2`);
    expect(again).toMatchObject({ parentId: ROOT, snapshot: { status: 'active', value: 'running', context: { restarts: 1, crashes: 1 } } });
    const restarted = sent.filter((e) => e.sessionId === ROOT && e.type === '@xstate.snapshot').at(-1);
    expect(restarted).toMatchObject({ event: { type: 'child.restarted', child: 'sweeper' }, snapshot: { value: 'running', context: { restarts: { sweeper: 1 } } } });
    expect(root.tree()).toEqual([{ id: 'sweeper', sessionId: `${ROOT}/sweeper@2`, status: 'running', restarts: 1, crashes: 1 }]);
    await root.stop();
  });

  it('leaves the children of a supervisor whose children report themselves (the sagas) to them', async () => {
    let sagas: { startChild(spec: ChildSpec): Promise<void> } | undefined;
    const root = await start([supervisorChild({ id: 'sagas', spec, children: [], childrenInspectThemselves: true, log: silentLogger, clock, timers, onStart: (s) => (sagas = s) })]);
    await sagas!.startChild({ id: 'task:t1:1', restart: 'transient', start: () => ({ done: new Promise(() => undefined), stop: async () => undefined }) });
    expect(actors().map(([id]) => id)).toEqual([ROOT, `${ROOT}/sagas`]);
    expect(root.tree()[0]).toMatchObject({ id: 'sagas', children: [{ id: 'task:t1:1', status: 'running' }] });
    await root.stop();
  });
});
