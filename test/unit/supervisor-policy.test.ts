import { describe, expect, it } from 'vitest';
import {
  decideOnExit,
  initialSupervisorState,
  restartDelayMs,
  type ChildEntry,
  type RestartType,
  type Strategy,
  type SupervisorSpec,
  type SupervisorState,
} from '../../src/machines/supervisor-policy.ts';

const T0 = Date.UTC(2026, 0, 1);

const spec = (overrides: Partial<SupervisorSpec> = {}): SupervisorSpec => ({
  strategy: 'one_for_one',
  intensity: { maxRestarts: 3, periodMs: 10_000 },
  backoff: { baseMs: 100, maxMs: 1_000 },
  ...overrides,
});

const children = (...entries: Array<[string, RestartType]>): ChildEntry[] => entries.map(([id, restart]) => ({ id, restart }));

/** Feeds crashes of one child at the given times; returns each decision and the final state. */
function crashes(s: SupervisorSpec, kids: ChildEntry[], childId: string, times: number[]) {
  let state: SupervisorState = initialSupervisorState();
  const decisions = times.map((now) => {
    const out = decideOnExit(state, s, kids, { childId, reason: 'crash', now });
    state = out.state;
    return out.decision;
  });
  return { decisions, state };
}

describe('supervisor policy: restart types', () => {
  const kids = children(['a', 'permanent'], ['b', 'transient'], ['c', 'temporary'], ['d', 'permanent']);
  const table: Array<[RestartType, 'normal' | 'crash', Strategy, string]> = [];
  for (const restart of ['permanent', 'transient', 'temporary'] as const)
    for (const reason of ['normal', 'crash'] as const)
      for (const strategy of ['one_for_one', 'rest_for_one'] as const) {
        const restarts = restart === 'permanent' || (restart === 'transient' && reason === 'crash');
        table.push([restart, reason, strategy, restarts ? 'restart' : 'remove']);
      }

  it.each(table)('a %s child exiting %s under %s: %s', (restart, reason, strategy, expected) => {
    const id = { permanent: 'a', transient: 'b', temporary: 'c' }[restart];
    const { state, decision } = decideOnExit(initialSupervisorState(), spec({ strategy }), kids, { childId: id, reason, now: T0 });
    expect(decision.type).toBe(expected);
    if (decision.type === 'remove') {
      expect(decision).toEqual({ type: 'remove', childId: id });
      // Not restarting is not a restart: the intensity window is untouched.
      expect(state.restarts).toEqual([]);
    } else {
      expect(state.restarts).toEqual([T0]);
    }
  });

  it('decides nothing for a child it does not know (already terminated)', () => {
    const state = { restarts: [T0] };
    expect(decideOnExit(state, spec(), kids, { childId: 'gone', reason: 'crash', now: T0 + 1 })).toEqual({ state, decision: { type: 'none' } });
  });
});

describe('supervisor policy: strategies', () => {
  const kids = children(['a', 'permanent'], ['b', 'permanent'], ['c', 'transient'], ['d', 'temporary'], ['e', 'permanent']);

  it('one_for_one restarts only the child that exited and stops no sibling', () => {
    const { decision } = decideOnExit(initialSupervisorState(), spec(), kids, { childId: 'b', reason: 'crash', now: T0 });
    expect(decision).toEqual({ type: 'restart', childIds: ['b'], stopIds: [], delayMs: 100 });
  });

  it('rest_for_one stops the later siblings in reverse order and restarts all but temporary ones in start order', () => {
    const { decision } = decideOnExit(initialSupervisorState(), spec({ strategy: 'rest_for_one' }), kids, { childId: 'b', reason: 'crash', now: T0 });
    expect(decision).toEqual({ type: 'restart', childIds: ['b', 'c', 'e'], stopIds: ['e', 'd', 'c'], delayMs: 100 });
  });

  it('rest_for_one on the last child restarts only that child', () => {
    const { decision } = decideOnExit(initialSupervisorState(), spec({ strategy: 'rest_for_one' }), kids, { childId: 'e', reason: 'crash', now: T0 });
    expect(decision).toEqual({ type: 'restart', childIds: ['e'], stopIds: [], delayMs: 100 });
  });

  it('rest_for_one leaves every sibling alone when a transient child exits normally', () => {
    const { decision } = decideOnExit(initialSupervisorState(), spec({ strategy: 'rest_for_one' }), kids, { childId: 'c', reason: 'normal', now: T0 });
    expect(decision).toEqual({ type: 'remove', childId: 'c' });
  });

  it('counts a rest_for_one restart of several children as one restart', () => {
    const { state } = decideOnExit(initialSupervisorState(), spec({ strategy: 'rest_for_one' }), kids, { childId: 'a', reason: 'crash', now: T0 });
    expect(state.restarts).toEqual([T0]);
  });
});

describe('supervisor policy: intensity', () => {
  const kids = children(['a', 'permanent']);

  it('allows maxRestarts restarts within periodMs and escalates on exactly the next one', () => {
    const { decisions } = crashes(spec(), kids, 'a', [T0, T0 + 1, T0 + 2, T0 + 3]);
    expect(decisions.map((d) => d.type)).toEqual(['restart', 'restart', 'restart', 'escalate']);
    expect(decisions[3]).toMatchObject({ reason: expect.stringContaining('exceeds maxRestarts 3') });
  });

  it('counts a permanent child exiting normally against the intensity', () => {
    let state = initialSupervisorState();
    const types: string[] = [];
    for (const now of [T0, T0 + 1, T0 + 2, T0 + 3]) {
      const out = decideOnExit(state, spec(), kids, { childId: 'a', reason: 'normal', now });
      state = out.state;
      types.push(out.decision.type);
    }
    expect(types).toEqual(['restart', 'restart', 'restart', 'escalate']);
  });

  it('slides the window: restarts older than periodMs no longer count', () => {
    const { decisions, state } = crashes(spec(), kids, 'a', [T0, T0 + 1_000, T0 + 2_000, T0 + 10_001]);
    expect(decisions.map((d) => d.type)).toEqual(['restart', 'restart', 'restart', 'restart']);
    expect(state.restarts).toEqual([T0 + 1_000, T0 + 2_000, T0 + 10_001]);
  });

  it('still counts a restart exactly periodMs ago, as OTP does', () => {
    const { decisions } = crashes(spec(), kids, 'a', [T0, T0 + 1_000, T0 + 2_000, T0 + 10_000]);
    expect(decisions[3]!.type).toBe('escalate');
  });

  it('keeps escalating while the window is full and recovers once it has slid past', () => {
    const s = spec({ intensity: { maxRestarts: 1, periodMs: 1_000 } });
    const { decisions } = crashes(s, kids, 'a', [T0, T0 + 500, T0 + 2_000]);
    expect(decisions.map((d) => d.type)).toEqual(['restart', 'escalate', 'restart']);
  });

  it('escalates on the first restart when maxRestarts is 0', () => {
    const { decisions } = crashes(spec({ intensity: { maxRestarts: 0, periodMs: 1_000 } }), kids, 'a', [T0]);
    expect(decisions[0]!.type).toBe('escalate');
  });

  it('counts the restarts of all children in one window', () => {
    const two = children(['a', 'permanent'], ['b', 'permanent']);
    let state = initialSupervisorState();
    const types: string[] = [];
    for (const [childId, now] of [['a', T0], ['b', T0 + 1], ['a', T0 + 2], ['b', T0 + 3]] as const) {
      const out = decideOnExit(state, spec(), two, { childId, reason: 'crash', now });
      state = out.state;
      types.push(out.decision.type);
    }
    expect(types).toEqual(['restart', 'restart', 'restart', 'escalate']);
  });
});

describe('supervisor policy: backoff', () => {
  it('doubles the delay with each restart in the window and caps it at maxMs', () => {
    const s = spec({ intensity: { maxRestarts: 10, periodMs: 60_000 } });
    const { decisions } = crashes(s, children(['a', 'permanent']), 'a', [0, 1, 2, 3, 4, 5].map((i) => T0 + i));
    expect(decisions.map((d) => (d.type === 'restart' ? d.delayMs : d.type))).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it('starts over at baseMs once earlier restarts have left the window', () => {
    const s = spec({ intensity: { maxRestarts: 10, periodMs: 1_000 } });
    const { decisions } = crashes(s, children(['a', 'permanent']), 'a', [T0, T0 + 1, T0 + 5_000]);
    expect(decisions.map((d) => (d.type === 'restart' ? d.delayMs : d.type))).toEqual([100, 200, 100]);
  });

  it.each([
    [{ baseMs: 0, maxMs: 1_000 }, 1, 0],
    [{ baseMs: 0, maxMs: 1_000 }, 5_000, 0],
    [{ baseMs: 100, maxMs: 1_000 }, 0, 100],
    [{ baseMs: 100, maxMs: 1_000 }, 1, 100],
    [{ baseMs: 100, maxMs: 1_000 }, 4, 800],
    [{ baseMs: 100, maxMs: 1_000 }, 5_000, 1_000],
    [{ baseMs: 500, maxMs: 200 }, 1, 200],
  ])('restartDelayMs(%o, n=%i) is %i', (backoff, n, expected) => {
    expect(restartDelayMs(backoff, n)).toBe(expected);
  });
});
