import { describe, expect, it } from 'vitest';
import { acceptsEvent } from '../../src/machines/task-saga-snapshot.ts';
import type { SagaEvent } from '../../src/machines/task-saga-types.ts';
import { SagaDriver, sagaPolicy, step } from '../support/saga.ts';

const pipeline = () =>
  sagaPolicy({
    steps: [
      step('branch', { compensable: true }),
      step('develop', { compensable: false }),
      step('push', { compensable: true }),
      step('review'),
    ],
  });

describe('task saga: the happy path', () => {
  it('runs a one-step kind from queued to succeeded with its result', () => {
    const saga = new SagaDriver().claim();
    expect(saga.state).toBe('running');
    saga.ok({ answer: 42 });
    expect(saga.state).toBe('succeeded');
    expect(saga.context.result).toEqual({ answer: 42 });
    expect(saga.context.note).toMatch(/succeeded/);
  });

  it('runs the steps of a pipeline in order and counts each visit', () => {
    const saga = new SagaDriver(pipeline()).claim();
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      seen.push(saga.context.policy.steps[saga.context.stepIndex]!.name);
      saga.ok(i);
    }
    expect(seen).toEqual(['branch', 'develop', 'push', 'review']);
    expect(saga.state).toBe('succeeded');
    expect(saga.context.result).toBe(3);
    expect(saga.context.visits).toEqual({ branch: 1, develop: 1, push: 1, review: 1 });
    expect(saga.context.outputs).toEqual({ branch: 0, develop: 1, push: 2, review: 3 });
  });
});

describe('task saga: failures and budgets', () => {
  it('backs off after a transient failure with a full-jitter delay and runs again when claimed', () => {
    const saga = new SagaDriver().claim().fail('transient', '429 Too Many Requests', { jitter: 0.5 });
    expect(saga.state).toBe('backoff');
    expect(saga.context.attempts).toEqual({ transient: 1, permanent: 0, crashes: 0 });
    expect(saga.context.availableAt).toBe(saga.now + 500); // 0.5 × min(60 s, 1 s × 2^0)
    saga.claim().fail('transient', '429', { jitter: 0.5 });
    expect(saga.context.availableAt).toBe(saga.now + 1000); // 0.5 × 2 s: the ceiling doubles
    saga.claim().ok('done');
    expect(saga.state).toBe('succeeded');
  });

  it('never retries sooner than the provider’s Retry-After', () => {
    const saga = new SagaDriver().claim().fail('transient', 'overloaded', { jitter: 0, retryAfterMs: 30_000 });
    expect(saga.context.availableAt).toBe(saga.now + 30_000);
  });

  it('caps the Retry-After hint at maxRetryAfterMs', () => {
    const saga = new SagaDriver(sagaPolicy({ maxRetryAfterMs: 5000 })).claim().fail('transient', 'x', { jitter: 0, retryAfterMs: 86_400_000 });
    expect(saga.context.availableAt).toBe(saga.now + 5000);
  });

  it('gives up after maxAttempts transient failures, keeping the last error', () => {
    const saga = new SagaDriver().claim();
    for (let i = 1; i < 5; i++) saga.fail('transient', `503 #${i}`).claim();
    expect(saga.state).toBe('running');
    saga.fail('transient', '503 #5');
    expect(saga.state).toBe('failed');
    expect(saga.context.attempts.transient).toBe(5);
    expect(saga.context.error).toEqual({ class: 'transient', message: '503 #5' });
  });

  it('keeps separate budgets: two permanent failures end the task even with transient budget left', () => {
    const saga = new SagaDriver().claim().fail('transient').claim().fail('permanent').claim();
    expect(saga.state).toBe('running');
    saga.fail('permanent', 'syntax error');
    expect(saga.state).toBe('failed');
    expect(saga.context.attempts).toEqual({ transient: 1, permanent: 2, crashes: 0 });
  });

  it('counts a timeout as permanent unless the kind says transient', () => {
    const permanent = new SagaDriver().claim().fail('timeout');
    expect(permanent.context.attempts).toMatchObject({ permanent: 1, transient: 0 });
    const transient = new SagaDriver(sagaPolicy({ timeoutIs: 'transient' })).claim().fail('timeout');
    expect(transient.context.attempts).toMatchObject({ permanent: 0, transient: 1 });
    expect(transient.context.error?.class).toBe('timeout');
  });

  it('uses the policy of the latest claim: a raised budget lets the task retry', () => {
    const saga = new SagaDriver(sagaPolicy({ retry: { ...sagaPolicy().retry, permanent: { maxAttempts: 1, baseMs: 1, maxMs: 1 } } }));
    saga.claim(undefined, sagaPolicy()).fail('permanent');
    expect(saga.state).toBe('backoff');
  });

  it('stops early as repeated-failure after three identical permanent failures', () => {
    const policy = sagaPolicy({ retry: { ...sagaPolicy().retry, permanent: { maxAttempts: 10, baseMs: 1, maxMs: 1 } } });
    const saga = new SagaDriver(policy).claim();
    saga.fail('permanent', 'ENOENT: /tmp/run-1234/config.yml missing after 31 ms').claim();
    saga.fail('permanent', 'ENOENT: /tmp/run-9876/config.yml missing after 7 ms').claim();
    expect(saga.state).toBe('running');
    saga.fail('permanent', 'ENOENT: /tmp/run-5555/config.yml missing after 12 ms');
    expect(saga.state).toBe('failed');
    expect(saga.context.attempts.permanent).toBe(3);
    expect(saga.context.error).toMatchObject({ code: 'REPEATED_FAILURE' });
    expect(saga.context.note).toMatch(/repeated-failure/);
  });

  it('does not count different or transient failures as repeated', () => {
    const policy = sagaPolicy({ retry: { transient: { maxAttempts: 10, baseMs: 1, maxMs: 1 }, permanent: { maxAttempts: 10, baseMs: 1, maxMs: 1 } } });
    const saga = new SagaDriver(policy).claim();
    for (const m of ['a failed', 'b failed', 'a failed']) saga.fail('permanent', m).claim();
    for (let i = 0; i < 4; i++) saga.fail('transient', '429').claim();
    expect(saga.state).toBe('running');
  });

  it('re-queues a run that lost its lease and quarantines at the crash limit', () => {
    const saga = new SagaDriver().claim().fail('lost-lease', 'node died');
    expect(saga.state).toBe('queued');
    expect(saga.context.attempts.crashes).toBe(1);
    saga.claim().fail('lost-lease').claim().fail('lost-lease');
    expect(saga.state).toBe('quarantined');
    expect(saga.context.note).toMatch(/poison/);
  });

  it('hands a task back without charging an attempt (drain)', () => {
    const saga = new SagaDriver().claim().send({ type: 'task.handback', reason: 'node draining' });
    expect(saga.state).toBe('queued');
    expect(saga.context.attempts).toEqual({ transient: 0, permanent: 0, crashes: 0 });
    const cancelled = new SagaDriver().claim().fail('cancelled');
    expect(cancelled.state).toBe('queued');
    expect(cancelled.context.attempts).toEqual({ transient: 0, permanent: 0, crashes: 0 });
  });

  it('re-runs the current step when claimed again after its run was lost', () => {
    const saga = new SagaDriver(pipeline()).claim().ok().claim();
    expect(saga.state).toBe('running');
    expect(saga.context.stepIndex).toBe(1);
    expect(saga.context.note).toMatch(/re-run step develop/);
  });
});

describe('task saga: compensations', () => {
  it('compensates completed steps that have a compensator, in reverse order, then fails', () => {
    const saga = new SagaDriver(pipeline()).claim().ok().ok().ok(); // branch, develop, push done
    saga.fail('permanent').claim().fail('permanent', 'review bot crashed');
    expect(saga.state).toBe('compensating');
    expect(saga.context.pendingCompensations).toEqual(['push', 'branch']);
    // Out of order: refused.
    expect(acceptsEvent(saga.snapshot, { type: 'compensation.succeeded', step: 'branch', now: saga.now })).toBe(false);
    saga.send({ type: 'compensation.succeeded', step: 'push' }).send({ type: 'compensation.succeeded', step: 'branch' });
    expect(saga.state).toBe('failed');
    expect(saga.context.compensations.map((c) => [c.step, c.status])).toEqual([
      ['push', 'done'],
      ['branch', 'done'],
    ]);
    expect(saga.context.error).toMatchObject({ class: 'permanent', message: 'review bot crashed' });
  });

  it('quarantines when a compensation fails, recording the rest as skipped with a reason', () => {
    const saga = new SagaDriver(pipeline()).claim().ok().ok().ok().fail('permanent').claim().fail('permanent');
    saga.send({ type: 'compensation.failed', step: 'push', message: 'git push --delete: permission denied' });
    expect(saga.state).toBe('quarantined');
    expect(saga.context.compensations).toEqual([
      { step: 'push', status: 'failed', at: expect.any(Number), error: 'git push --delete: permission denied' },
      { step: 'branch', status: 'skipped', at: expect.any(Number), reason: expect.stringMatching(/compensation of push failed/) },
    ]);
    expect(saga.context.error).toMatchObject({ class: 'compensation', code: 'COMPENSATION_FAILED' });
  });

  it('goes straight to failed when nothing completed has a compensator', () => {
    const saga = new SagaDriver().claim().fail('permanent').claim().fail('permanent', 'bad');
    expect(saga.state).toBe('failed');
    expect(saga.context.compensations).toEqual([]);
    expect(saga.context.note).toMatch(/budget is spent: bad/);
  });
});

describe('task saga: cancel', () => {
  it('cancels a queued task at once', () => {
    const saga = new SagaDriver().send({ type: 'task.cancel', reason: 'not needed' });
    expect(saga.state).toBe('cancelled');
    expect(saga.context.error).toEqual({ class: 'cancelled', message: 'not needed' });
  });

  it('stops a running task, then compensates, then ends cancelled', () => {
    const saga = new SagaDriver(pipeline()).claim().ok().send({ type: 'task.cancel', reason: 'operator' });
    expect(saga.state).toBe('cancelling');
    expect(acceptsEvent(saga.snapshot, { type: 'step.succeeded', now: saga.now })).toBe(false);
    saga.send({ type: 'run.stopped' });
    expect(saga.state).toBe('compensating');
    saga.send({ type: 'compensation.succeeded', step: 'branch' });
    expect(saga.state).toBe('cancelled');
    expect(saga.context.attempts).toEqual({ transient: 0, permanent: 0, crashes: 0 });
  });

  it('compensates a task cancelled in backoff or waiting', () => {
    const backoff = new SagaDriver(pipeline()).claim().ok().fail('transient').send({ type: 'task.cancel', reason: 'x' });
    expect(backoff.state).toBe('compensating');
    const waiting = new SagaDriver(pipeline()).claim().ok(undefined, { wait: 'approval' }).send({ type: 'task.cancel', reason: 'x' });
    expect(waiting.state).toBe('compensating');
    expect(waiting.context.pendingCompensations).toEqual(['branch']);
  });

  it('accepts a cancel while already cleaning up without changing the outcome', () => {
    const saga = new SagaDriver(pipeline()).claim().ok().fail('permanent').claim().fail('permanent');
    saga.send({ type: 'task.cancel', reason: 'late' }).send({ type: 'compensation.succeeded', step: 'branch' });
    expect(saga.state).toBe('failed');
  });
});

describe('task saga: approval and routing', () => {
  it('waits for approval after a step, then continues with the next step once claimed', () => {
    const saga = new SagaDriver(pipeline()).claim().ok('branch-1', { wait: 'approval' });
    expect(saga.state).toBe('waiting');
    saga.send({ type: 'task.approve', by: 'ana' });
    expect(saga.state).toBe('queued');
    saga.claim();
    expect(saga.context.policy.steps[saga.context.stepIndex]?.name).toBe('develop');
  });

  it('succeeds on approval of the last step', () => {
    const saga = new SagaDriver().claim().ok('draft', { wait: 'approval' }).send({ type: 'task.approve', by: 'ana' });
    expect(saga.state).toBe('succeeded');
    expect(saga.context.result).toBe('draft');
  });

  it('compensates and fails on rejection', () => {
    const saga = new SagaDriver(pipeline()).claim().ok(undefined, { wait: 'approval' }).send({ type: 'task.reject', by: 'ana', reason: 'wrong repo' });
    expect(saga.state).toBe('compensating');
    saga.send({ type: 'compensation.succeeded', step: 'branch' });
    expect(saga.state).toBe('failed');
    expect(saga.context.error).toMatchObject({ code: 'REJECTED', message: 'rejected by ana: wrong repo' });
  });

  it('loops back with goto until the target reaches maxVisits, then fails', () => {
    const saga = new SagaDriver(pipeline()).claim().ok().ok().ok(); // at review
    saga.ok('changes', { goto: 'develop' });
    expect(saga.context.policy.steps[saga.context.stepIndex]?.name).toBe('develop');
    saga.ok().ok().ok('changes', { goto: 'develop' }).ok().ok(); // develop visit 3
    expect(saga.context.visits.develop).toBe(3);
    saga.ok('changes', { goto: 'develop' });
    expect(saga.state).toBe('compensating');
    expect(saga.context.error).toMatchObject({ code: 'MAX_VISITS' });
  });

  it('waits for a person at maxVisits when the step says so', () => {
    const policy = sagaPolicy({ steps: [step('develop', { maxVisits: 1, onMaxVisits: 'wait' }), step('review')] });
    const saga = new SagaDriver(policy).claim().ok().ok('changes', { goto: 'develop' });
    expect(saga.state).toBe('waiting');
    saga.send({ type: 'task.approve', by: 'lead' });
    expect(saga.state).toBe('succeeded');
  });

  it('fails a goto to a step that does not exist', () => {
    const saga = new SagaDriver(pipeline()).claim().ok(undefined, { goto: 'deploy' });
    expect(saga.context.error).toMatchObject({ code: 'BAD_ROUTE' });
  });
});

describe('task saga: terminal states', () => {
  const everyEvent = (now: number): SagaEvent[] => [
    { type: 'task.claimed', now, policy: sagaPolicy(), attempts: { transient: 0, permanent: 0, crashes: 0 } },
    { type: 'step.succeeded', now },
    { type: 'attempt.failed', now, failure: { class: 'transient', message: 'x' }, jitter: 0 },
    { type: 'task.handback', now, reason: 'x' },
    { type: 'task.cancel', now, reason: 'x' },
    { type: 'run.stopped', now },
    { type: 'compensation.succeeded', now, step: 'run' },
    { type: 'compensation.failed', now, step: 'run', message: 'x' },
    { type: 'task.approve', now, by: 'x' },
    { type: 'task.reject', now, by: 'x', reason: 'x' },
  ];
  const ends = {
    succeeded: () => new SagaDriver().claim().ok(),
    failed: () => new SagaDriver().claim().fail('permanent').claim().fail('permanent'),
    cancelled: () => new SagaDriver().send({ type: 'task.cancel', reason: 'x' }),
    quarantined: () => new SagaDriver().claim().fail('lost-lease').claim().fail('lost-lease').claim().fail('lost-lease'),
  };

  it.each(Object.entries(ends))('%s refuses every event but an annotation or a reopen', (state, make) => {
    const saga = make();
    expect(saga.state).toBe(state);
    for (const event of everyEvent(saga.now)) expect(acceptsEvent(saga.snapshot, event), event.type).toBe(false);
    expect(acceptsEvent(saga.snapshot, { type: 'task.annotate', now: saga.now })).toBe(true);
    const reopen = { type: 'task.reopen', now: saga.now, policy: sagaPolicy(), reason: 'fixed' } as const;
    expect(acceptsEvent(saga.snapshot, reopen)).toBe(state !== 'succeeded');
    const before = saga.snapshot;
    saga.send({ type: 'task.annotate' });
    expect(saga.snapshot.value).toBe(before.value);
    expect(saga.snapshot.context).toEqual(before.context);
  });

  it('reopens a failed task with fresh budgets and an empty plan', () => {
    const saga = new SagaDriver(pipeline()).claim().ok().fail('permanent').claim().fail('permanent');
    saga.send({ type: 'compensation.succeeded', step: 'branch' });
    saga.send({ type: 'task.reopen', policy: pipeline(), reason: 'fixed creds' });
    expect(saga.state).toBe('queued');
    expect(saga.context).toMatchObject({ stepIndex: 0, completed: [], compensations: [], attempts: { transient: 0, permanent: 0, crashes: 0 } });
    expect(saga.context.error).toBeUndefined();
    saga.claim().ok().ok().ok().ok();
    expect(saga.state).toBe('succeeded');
  });
});
