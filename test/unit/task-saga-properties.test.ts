import { createActor } from 'xstate';
import { describe, expect, it } from 'vitest';
import { taskSagaMachine } from '../../src/machines/task-saga.ts';
import { compensationPlan } from '../../src/machines/task-saga-logic.ts';
import { persistSaga, restoreSaga, sagaState, stepSaga, type SagaSnapshot } from '../../src/machines/task-saga-snapshot.ts';
import type { SagaEvent, SagaPolicy } from '../../src/machines/task-saga-types.ts';
import { canTransition, isTerminal, TASK_STATES, type TaskState } from '../../src/protocol/task-states.ts';
import { SagaDriver, sagaPolicy, step, T0 } from '../support/saga.ts';

/** Small seeded PRNG (mulberry32): a failing seed reproduces exactly. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const policy: SagaPolicy = sagaPolicy({
  steps: [step('a', { compensable: true }), step('b'), step('c', { compensable: true, maxVisits: 2 }), step('d', { onMaxVisits: 'wait', maxVisits: 2 })],
  retry: { transient: { maxAttempts: 3, baseMs: 10, maxMs: 100 }, permanent: { maxAttempts: 2, baseMs: 10, maxMs: 100 } },
  crashLimit: 2,
});
const names = ['a', 'b', 'c', 'd', 'zz'];
const classes = ['transient', 'permanent', 'timeout', 'cancelled', 'lost-lease'] as const;

function randomEvent(rand: () => number, snapshot: SagaSnapshot, now: number): SagaEvent {
  const pick = <T,>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const head = snapshot.context.pendingCompensations[0];
  const compStep = head !== undefined && rand() < 0.8 ? head : pick(names);
  const r = rand();
  const route = r < 0.6 ? undefined : r < 0.8 ? { goto: pick(names) } : ({ wait: 'approval' } as const);
  const events: SagaEvent[] = [
    { type: 'task.claimed', now, policy, attempts: snapshot.context.attempts },
    { type: 'step.succeeded', now, output: Math.floor(rand() * 100), ...(route ? { route } : {}), ...(rand() < 0.3 ? { gate: { pass: !(route && 'goto' in route), reason: 'r' } } : {}) },
    { type: 'attempt.failed', now, failure: { class: pick(classes), message: 'boom' }, jitter: rand() },
    { type: 'task.handback', now, reason: 'drain' },
    { type: 'task.cancel', now, reason: 'operator' },
    { type: 'run.stopped', now },
    { type: 'compensation.succeeded', now, step: compStep },
    { type: 'compensation.failed', now, step: compStep, message: 'nope' },
    { type: 'task.approve', now, by: 'p', ...(rand() < 0.5 ? { input: { n: 1 }, reason: 'ok' } : {}) },
    { type: 'task.reject', now, by: 'p', reason: 'no', ...(rand() < 0.5 ? { goto: pick(names) } : {}) },
    { type: 'task.annotate', now },
    { type: 'task.reopen', now, policy, reason: 'again' },
  ];
  // Weight the events that move a task forward so runs reach deep states.
  const weighted = [0, 0, 1, 1, 1, 1, 2, 2, 3, 4, 5, 5, 6, 6, 6, 7, 8, 9, 10, 11];
  return events[pick(weighted)]!;
}

describe('task saga: properties over random event sequences', () => {
  it('never leaves a task in two states, never leaves a terminal state but by reopen, never skips a compensation', () => {
    let terminalRuns = 0;
    for (let seed = 1; seed <= 250; seed++) {
      const rand = prng(seed);
      let snapshot = new SagaDriver(policy).snapshot;
      let now = T0;
      for (let i = 0; i < 60; i++) {
        now += 1 + Math.floor(rand() * 1000);
        const event = randomEvent(rand, snapshot, now);
        const before = snapshot;
        const from = sagaState(before);
        snapshot = stepSaga(before, event);
        const to = sagaState(snapshot); // throws unless the value is exactly one task state
        const context = `seed ${seed}, event ${i} ${event.type}: ${from} → ${to}`;
        expect(TASK_STATES, context).toContain(to);
        if (isTerminal(from)) {
          if (event.type === 'task.reopen' && from !== 'succeeded') expect(to, context).toBe('queued');
          else {
            expect(to, context).toBe(from);
            expect(snapshot.context, context).toEqual(before.context);
          }
        } else if (to !== from) {
          expect(canTransition(from, to), context).toBe(true);
        }
        if (!isTerminal(from) && (to === 'failed' || to === 'cancelled' || (to === 'quarantined' && before.context.pendingCompensations.length > 0) || (to === 'quarantined' && from === 'compensating'))) {
          terminalRuns++;
          const planned = compensationPlan(snapshot.context.completed, policy.steps);
          const recorded = snapshot.context.compensations.map((c) => c.step);
          expect(recorded, context).toEqual(planned);
          if (to !== 'quarantined') expect(snapshot.context.compensations.every((c) => c.status === 'done'), context).toBe(true);
          else expect(snapshot.context.compensations.some((c) => c.status === 'failed'), context).toBe(true);
        }
        if (i % 4 === 0) expect(restoreSaga(JSON.parse(JSON.stringify(persistSaga(snapshot)))).value, context).toEqual(snapshot.value);
      }
    }
    expect(terminalRuns).toBeGreaterThan(60);
  });
});

describe('task saga: the shared actor scope of stepSaga', () => {
  it('steps to the same snapshots as xstate transition() with a fresh scope, over random sequences', async () => {
    const { stepSagaByTransition } = await import('../../src/machines/task-saga-snapshot.ts');
    for (let seed = 1; seed <= 100; seed++) {
      const rand = prng(seed);
      let fast = new SagaDriver(policy).snapshot;
      let reference = fast;
      let now = T0;
      for (let i = 0; i < 60; i++) {
        now += 1 + Math.floor(rand() * 1000);
        const event = randomEvent(rand, reference, now);
        const nextFast = stepSaga(fast, event);
        const nextReference = stepSagaByTransition(reference, event);
        const context = `seed ${seed}, event ${i} ${event.type}`;
        expect(nextFast.value, context).toEqual(nextReference.value);
        expect(nextFast.context, context).toEqual(nextReference.context);
        // A refused event returns the snapshot it was given, on both paths.
        expect(nextFast === fast, context).toBe(nextReference === reference);
        fast = nextFast;
        reference = nextReference;
      }
    }
  });
});

describe('task saga: persisted snapshots', () => {
  it('builds the same initial snapshot by resolveState as by the initial transition', async () => {
    const { initialSaga, initialSagaByTransition } = await import('../../src/machines/task-saga-snapshot.ts');
    const fast = initialSaga({ taskId: 't9', policy });
    const reference = initialSagaByTransition({ taskId: 't9', policy });
    expect(fast.value).toEqual(reference.value);
    expect(fast.context).toEqual(reference.context);
    expect(persistSaga(fast)).toEqual(persistSaga(reference));
  });

  const reach: Record<TaskState, () => SagaDriver> = {
    queued: () => new SagaDriver(policy),
    running: () => new SagaDriver(policy).claim().ok(),
    backoff: () => new SagaDriver(policy).claim().ok().fail('transient'),
    waiting: () => new SagaDriver(policy).claim().ok(1, { wait: 'approval' }),
    cancelling: () => new SagaDriver(policy).claim().ok().send({ type: 'task.cancel', reason: 'x' }),
    compensating: () => new SagaDriver(policy).claim().ok().ok().ok().fail('permanent').claim().fail('permanent'),
    succeeded: () => new SagaDriver(policy).claim().ok().ok().ok().ok(),
    failed: () => new SagaDriver(policy).claim().fail('permanent').claim().fail('permanent'),
    cancelled: () => new SagaDriver(policy).send({ type: 'task.cancel', reason: 'x' }),
    quarantined: () => new SagaDriver(policy).claim().fail('lost-lease').claim().fail('lost-lease'),
  };
  const next: Record<TaskState, (now: number) => SagaEvent> = {
    queued: (now) => ({ type: 'task.claimed', now, policy, attempts: { transient: 0, permanent: 0, crashes: 0 } }),
    running: (now) => ({ type: 'attempt.failed', now, failure: { class: 'transient', message: 'x' }, jitter: 0.3 }),
    backoff: (now) => ({ type: 'task.claimed', now, policy, attempts: { transient: 1, permanent: 0, crashes: 0 } }),
    waiting: (now) => ({ type: 'task.approve', now, by: 'ana' }),
    cancelling: (now) => ({ type: 'run.stopped', now }),
    compensating: (now) => ({ type: 'compensation.succeeded', now, step: 'c' }),
    succeeded: (now) => ({ type: 'task.annotate', now }),
    failed: (now) => ({ type: 'task.reopen', now, policy, reason: 'again' }),
    cancelled: (now) => ({ type: 'task.reopen', now, policy, reason: 'again' }),
    quarantined: (now) => ({ type: 'task.reopen', now, policy, reason: 'again' }),
  };

  it.each(TASK_STATES)('round-trips %s through JSON and continues identically in a restored actor', (state) => {
    const saga = reach[state]();
    expect(saga.state).toBe(state);
    const stored = JSON.stringify(persistSaga(saga.snapshot));
    const actor = createActor(taskSagaMachine, { snapshot: JSON.parse(stored), input: { taskId: 'ignored', policy } }).start();
    expect(actor.getSnapshot().value).toBe(state);
    expect(actor.getSnapshot().context).toEqual(saga.context);
    const event = next[state](saga.now + 1000);
    actor.send(event);
    const continued = stepSaga(saga.snapshot, event);
    expect(actor.getSnapshot().value).toEqual(continued.value);
    expect(actor.getSnapshot().context).toEqual(continued.context);
    expect(saga.snapshot.can(event), 'the chosen event is one this state accepts').toBe(true);
    actor.stop();
  });
});
