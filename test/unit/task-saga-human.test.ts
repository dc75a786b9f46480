import { describe, expect, it } from 'vitest';
import { acceptsEvent } from '../../src/machines/task-saga-snapshot.ts';
import type { GateNote, SagaEvent } from '../../src/machines/task-saga-types.ts';
import type { Json } from '../../src/protocol/task.ts';
import { SagaDriver, sagaPolicy, step } from '../support/saga.ts';

/** analysis → develop → review (gated, back to develop) → approve → merge, as in issue 14. */
const pipeline = (develop: Partial<Parameters<typeof step>[1]> = {}) =>
  sagaPolicy({ steps: [step('analysis'), step('develop', { compensable: true, ...develop }), step('review'), step('approve'), step('merge')] });
const at = (saga: SagaDriver) => saga.context.policy.steps[saga.context.stepIndex]?.name;
const gated = (saga: SagaDriver, gate: GateNote, goto?: string, output: Json = 'reviewed') =>
  saga.send({ type: 'step.succeeded', output, gate, ...(goto ? { route: { goto } } : {}) });
/** Runs analysis and develop, and stops at review. */
const atReview = (develop: Partial<Parameters<typeof step>[1]> = {}) => new SagaDriver(pipeline(develop)).claim().ok('plan').ok('code');

describe('task saga: gates', () => {
  it('goes back to the goto of a failed gate with the reason as feedback, and records verdict and visit count', () => {
    const saga = gated(atReview(), { pass: false, reason: 'tests missing' }, 'develop');
    expect(saga.state).toBe('running');
    expect(at(saga)).toBe('develop');
    expect(saga.context.visits.develop).toBe(2);
    expect(saga.context.feedback).toEqual({ reason: 'tests missing', from: 'review' });
    expect(saga.context.note).toBe('gate review: fail — "tests missing" → develop (visit 2 of 3)');
  });

  it('clears the feedback once the step sent back completes', () => {
    const saga = gated(atReview(), { pass: false, reason: 'tests missing' }, 'develop').ok('code v2');
    expect(at(saga)).toBe('review');
    expect(saga.context.feedback).toBeUndefined();
  });

  it('records a passing verdict in the note of the step that goes on', () => {
    const saga = gated(atReview(), { pass: true, reason: 'looks good' });
    expect(at(saga)).toBe('approve');
    expect(saga.context.note).toBe('step review done; gate review: pass — "looks good"; next approve');
  });

  it('gives a failed gate without a reason a feedback that says which gate failed', () => {
    const saga = gated(atReview(), { pass: false }, 'develop');
    expect(saga.context.feedback).toEqual({ reason: 'the gate of step review failed', from: 'review' });
    expect(saga.context.note).toBe('gate review: fail → develop (visit 2 of 3)');
  });

  it('fails the task when a failed gate sends it past maxVisits, naming the visits', () => {
    const saga = atReview({ maxVisits: 2 });
    gated(saga, { pass: false, reason: 'r1' }, 'develop').ok('code v2');
    gated(saga, { pass: false, reason: 'r2' }, 'develop');
    expect(saga.state).toBe('compensating');
    expect(saga.context.error).toMatchObject({ code: 'MAX_VISITS', message: 'gate review: fail — "r2" → develop: past its maxVisits (2 of 2)' });
  });

  it('waits for a person when a failed gate reaches maxVisits with onMaxVisits "wait"', () => {
    const saga = gated(atReview({ maxVisits: 1, onMaxVisits: 'wait' }), { pass: false, reason: 'still no tests' }, 'develop');
    expect(saga.state).toBe('waiting');
    expect(saga.context.note).toBe('gate review: fail — "still no tests" → develop, which has had 1 of 1 visits (maxVisits); waiting for a person');
  });

  it('counts a goto back into the step itself as a visit, with its own note', () => {
    const saga = new SagaDriver(sagaPolicy({ steps: [step('develop')] })).claim().ok('v1', { goto: 'develop' });
    expect(saga.state).toBe('running');
    expect(saga.context.visits.develop).toBe(2);
    expect(saga.context.note).toBe('step develop done → develop (visit 2 of 3)');
  });
});

describe('task saga: approvals and rejections', () => {
  const waiting = () => gated(atReview(), { pass: true }).ok('asked', { wait: 'approval' });

  it('hands an approval’s input, reason, approver and time to the next step, and clears it once that step completes', () => {
    const saga = waiting();
    expect(saga.state).toBe('waiting');
    saga.send({ type: 'task.approve', by: 'ana', input: { mergeMethod: 'squash' }, reason: 'ship it' });
    expect(saga.state).toBe('queued');
    expect(at(saga)).toBe('merge');
    expect(saga.context.approval).toEqual({ input: { mergeMethod: 'squash' }, reason: 'ship it', by: 'ana', at: saga.now });
    expect(saga.context.note).toBe('approved by ana: "ship it" (with input); next merge');
    saga.claim();
    expect(saga.context.approval).toBeDefined();
    saga.ok('merged');
    expect(saga.state).toBe('succeeded');
    expect(saga.context.approval).toBeUndefined();
  });

  it('sends a rejected task back to the goto step with the reason as feedback, counted as a visit', () => {
    const saga = waiting().send({ type: 'task.reject', by: 'ana', reason: 'needs a changelog', goto: 'develop' });
    expect(saga.state).toBe('queued');
    expect(at(saga)).toBe('develop');
    expect(saga.context.visits.develop).toBe(2);
    expect(saga.context.feedback).toEqual({ reason: 'needs a changelog', from: 'approve' });
    expect(saga.context.note).toBe('rejected by ana: "needs a changelog" → develop (visit 2 of 3)');
    expect(saga.context.error).toBeUndefined();
    saga.claim();
    expect(saga.state).toBe('running');
    expect(saga.context.feedback).toEqual({ reason: 'needs a changelog', from: 'approve' });
  });

  it('fails a rejection whose goto is past maxVisits when the step says "fail"', () => {
    const saga = gated(atReview({ maxVisits: 1 }), { pass: true }).ok('asked', { wait: 'approval' });
    saga.send({ type: 'task.reject', by: 'ana', reason: 'again', goto: 'develop' });
    expect(saga.state).toBe('compensating');
    expect(saga.context.error).toMatchObject({ code: 'MAX_VISITS', message: 'rejected by ana: "again" → develop: past its maxVisits (1 of 1)' });
  });

  it('keeps waiting on a rejection whose goto is past maxVisits when the step says "wait"', () => {
    const saga = gated(atReview({ maxVisits: 1, onMaxVisits: 'wait' }), { pass: true }).ok('asked', { wait: 'approval' });
    const before = saga.snapshot;
    saga.send({ type: 'task.reject', by: 'ana', reason: 'again', goto: 'develop' });
    expect(saga.snapshot).not.toBe(before);
    expect(saga.state).toBe('waiting');
    expect(saga.context.note).toMatch(/^rejected by ana: "again" → develop, which has had 1 of 1 visits/);
  });

  it('refuses a rejection whose goto names no step of the kind', () => {
    const saga = waiting();
    const event: SagaEvent = { type: 'task.reject', now: saga.now, by: 'ana', reason: 'x', goto: 'deploy' };
    expect(acceptsEvent(saga.snapshot, event)).toBe(false);
  });

  it('compensates and fails a rejection without a goto, as before', () => {
    const saga = waiting().send({ type: 'task.reject', by: 'ana', reason: 'wrong repo' });
    expect(saga.state).toBe('compensating');
    expect(saga.context.error).toMatchObject({ code: 'REJECTED', message: 'rejected by ana: wrong repo' });
  });

  it('forgets approvals and feedback on reopen', () => {
    const saga = waiting().send({ type: 'task.reject', by: 'ana', reason: 'again', goto: 'develop' });
    saga.send({ type: 'task.cancel', reason: 'stop' });
    saga.send({ type: 'compensation.succeeded', step: 'develop' });
    expect(saga.state).toBe('cancelled');
    saga.send({ type: 'task.reopen', policy: pipeline(), reason: 'again' });
    expect(saga.context.feedback).toBeUndefined();
    expect(saga.context.approval).toBeUndefined();
  });
});
