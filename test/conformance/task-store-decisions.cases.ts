import { beforeEach, describe, expect, it } from 'vitest';
import { operateOnTask } from '../../src/actors/operator.ts';
import { initialSaga, persistSaga, stepSaga } from '../../src/machines/task-saga-snapshot.ts';
import type { TaskStore } from '../../src/ports/task-store.ts';
import { publicRecord } from '../../src/protocol/public-record.ts';
import type { FakeClock } from '../support/fake-clock.ts';
import { sagaPolicy, step } from '../support/saga.ts';
import { A, TTL, type TaskStoreContext } from './task-store-context.ts';

/**
 * TaskStore cases: a person's decision (DESIGN.md, "Human steps") is kept with the task, so a
 * node that starts after it (another process, a restart) hands the next step its approval or
 * feedback. Written through the operator code path on a task a real saga left waiting.
 */
export function describeDecisionCases(ctx: TaskStoreContext): void {
  let clock: FakeClock;
  let store: TaskStore;
  beforeEach(() => {
    clock = ctx.clock;
    store = ctx.store;
  });
  const policy = sagaPolicy({ steps: [step('draft'), step('ask'), step('publish')] });

  /** Runs draft and ask (which asks for approval) the way a node would, and leaves the task waiting. */
  async function waitingTask(id: string): Promise<void> {
    await store.submit({ id, kind: 'k' });
    const claimed = await ctx.claimOne(A);
    let saga = stepSaga(initialSaga({ taskId: id, policy }), { type: 'task.claimed', now: clock.now(), policy, attempts: claimed.attempts });
    saga = stepSaga(saga, { type: 'step.succeeded', now: clock.now(), output: { text: 'v1' } });
    const next = await store.transition({ id, revision: claimed.revision, owner: A, to: 'running', step: 'ask', reason: saga.context.note, snapshot: persistSaga(saga), leaseTtlMs: TTL });
    saga = stepSaga(saga, { type: 'step.succeeded', now: clock.now(), output: 'asked', route: { wait: 'approval' } });
    await store.transition({ id, revision: next.revision, owner: A, to: 'waiting', reason: saga.context.note, snapshot: persistSaga(saga) });
  }

  describe('decisions of a person', () => {
    it('keeps an approval’s input, reason and approver for the next step, seen from another connection', async () => {
      await waitingTask('t');
      const after = await operateOnTask(store, clock, 't', { op: 'approve', by: 'ana', input: { channel: 'beta' }, reason: 'ship it' });
      expect(after).toMatchObject({ state: 'queued', step: 'publish', reason: 'approved by ana: "ship it" (with input); next publish', task: { state: 'queued' } });
      const seen = await (await ctx.peer()).get('t');
      expect((seen!.snapshot as { context: { approval: unknown } }).context.approval).toEqual({ input: { channel: 'beta' }, reason: 'ship it', by: 'ana', at: clock.now() });
      expect(seen!.history.at(-1)).toMatchObject({ from: 'waiting', to: 'queued', reason: expect.stringMatching(/^approved by ana: "ship it" \(with input\); next publish/) });
      expect(publicRecord(seen!).steps).toEqual([
        { name: 'draft', visits: 1, output: { text: 'v1' } },
        { name: 'ask', visits: 1, output: 'asked' },
        { name: 'publish', visits: 1 },
      ]);
    });

    it('keeps a rejection’s feedback for the step it sends the task back to, seen from another connection', async () => {
      await waitingTask('t');
      await operateOnTask(store, clock, 't', { op: 'reject', by: 'ana', reason: 'too long', goto: 'draft' });
      const seen = await (await ctx.peer()).get('t');
      expect(seen).toMatchObject({ state: 'queued', step: 'draft', availableAt: clock.now() });
      expect((seen!.snapshot as { context: { feedback: unknown; visits: unknown } }).context).toMatchObject({ feedback: { reason: 'too long', from: 'ask' }, visits: { draft: 2 } });
      const [again] = await store.claim({ owner: A, limit: 1, leaseTtlMs: TTL });
      expect(again).toMatchObject({ id: 't', state: 'running' });
    });

    it('refuses a decision on a task that is not waiting, and a goto naming no step, changing nothing', async () => {
      await waitingTask('t');
      await store.submit({ id: 'q', kind: 'k' });
      await expect(operateOnTask(store, clock, 'q', { op: 'approve', by: 'ana' })).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
      const before = await store.get('t');
      await expect(operateOnTask(store, clock, 't', { op: 'reject', by: 'ana', reason: 'x', goto: 'deploy' })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      expect((await store.get('t'))!.revision).toBe(before!.revision);
    });
  });
}
