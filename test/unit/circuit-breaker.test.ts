import { describe, expect, it } from 'vitest';
import { createActor, initialTransition, transition } from 'xstate';
import { circuitBreakerMachine, type BreakerEvent } from '../../src/machines/circuit-breaker.ts';

const settings = { threshold: 3, pauseMs: 1000, maxPauseMs: 3000 };
const input = { key: 'anthropic', settings };

function drive(events: BreakerEvent[]) {
  let [s] = initialTransition(circuitBreakerMachine, input);
  for (const e of events) [s] = transition(circuitBreakerMachine, s, e);
  return s;
}
const fail = (now: number, taskId = 't', transient = true): BreakerEvent => ({ type: 'attempt.failed', now, taskId, transient });

describe('circuit breaker', () => {
  it('opens after the threshold of consecutive transient failures', () => {
    expect(drive([fail(1), fail(2)]).value).toBe('closed');
    const s = drive([fail(1), fail(2), fail(3)]);
    expect(s.value).toBe('open');
    expect(s.context.openUntil).toBe(1003);
  });

  it('resets the streak on a permanent failure or a success', () => {
    expect(drive([fail(1), fail(2), fail(3, 't', false), fail(4), fail(5)]).value).toBe('closed');
    expect(drive([fail(1), fail(2), { type: 'attempt.succeeded', now: 3, taskId: 't' }, fail(4), fail(5)]).value).toBe('closed');
  });

  it('goes half-open only once the pause is over', () => {
    const open = [fail(1), fail(2), fail(3)];
    expect(drive([...open, { type: 'time.tick', now: 1002 }]).value).toBe('open');
    expect(drive([...open, { type: 'time.tick', now: 1003 }]).value).toBe('halfOpen');
  });

  it('admits exactly one probe in half-open', () => {
    const s = drive([fail(1), fail(2), fail(3), { type: 'time.tick', now: 2000 }, { type: 'probe.take', now: 2000, taskId: 'p1' }]);
    expect(s.context.probe).toBe('p1');
    expect(s.can({ type: 'probe.take', now: 2000, taskId: 'p2' })).toBe(false);
    const released = transition(circuitBreakerMachine, s, { type: 'probe.release', now: 2001, taskId: 'p1' })[0];
    expect(released.can({ type: 'probe.take', now: 2001, taskId: 'p2' })).toBe(true);
  });

  it('closes when the probe succeeds and ignores other tasks’ results', () => {
    const half = [fail(1), fail(2), fail(3), { type: 'time.tick', now: 2000 } as const, { type: 'probe.take', now: 2000, taskId: 'p1' } as const];
    expect(drive([...half, { type: 'attempt.succeeded', now: 2100, taskId: 'other' }]).value).toBe('halfOpen');
    const closed = drive([...half, { type: 'attempt.succeeded', now: 2100, taskId: 'p1' }]);
    expect(closed.value).toBe('closed');
    expect(closed.context).toMatchObject({ failures: 0, openUntil: undefined, probe: undefined });
  });

  it('re-opens on a failed probe with the pause doubled and capped', () => {
    const half = (now: number, id: string) => [{ type: 'time.tick', now } as const, { type: 'probe.take', now, taskId: id } as const];
    const s1 = drive([fail(1), fail(2), fail(3), ...half(2000, 'p1'), fail(2100, 'p1')]);
    expect(s1.value).toBe('open');
    expect(s1.context.openUntil).toBe(2100 + 2000);
    const s2 = drive([fail(1), fail(2), fail(3), ...half(2000, 'p1'), fail(2100, 'p1'), ...half(5000, 'p2'), fail(5100, 'p2')]);
    expect(s2.context.openUntil).toBe(5100 + 3000);
  });

  it('round-trips through a persisted snapshot', () => {
    const s = drive([fail(1), fail(2), fail(3)]);
    const restored = createActor(circuitBreakerMachine, { snapshot: JSON.parse(JSON.stringify(circuitBreakerMachine.getPersistedSnapshot(s))), input }).start();
    restored.send({ type: 'time.tick', now: 1003 });
    expect(restored.getSnapshot().value).toBe('halfOpen');
    restored.stop();
  });
});
