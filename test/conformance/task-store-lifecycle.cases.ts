import { beforeEach, describe, expect, it } from 'vitest';
import type { TaskStore, TaskWrite } from '../../src/ports/task-store.ts';
import type { FakeClock } from '../support/fake-clock.ts';
import { A, B, TTL, type TaskStoreContext } from './task-store-context.ts';

/** TaskStore cases: terminal states, reopen, cancel requests, queries, restart, dead letters. */
export function describeLifecycleCases(ctx: TaskStoreContext): void {
  let clock: FakeClock;
  let store: TaskStore;
  beforeEach(() => {
    clock = ctx.clock;
    store = ctx.store;
  });
  const { claimOne, peer } = ctx;

  describe('terminal states', () => {
    async function succeeded(): Promise<TaskWrite> {
      await store.submit({ id: 't', kind: 'k' });
      const t = await claimOne();
      return store.transition({ id: 't', revision: t.revision, owner: A, to: 'succeeded', reason: 'done', result: { ok: true } });
    }

    it('records the result and releases the lease', async () => {
      const done = await succeeded();
      expect(done.owner).toBeUndefined();
      expect(await store.get('t')).toMatchObject({ state: 'succeeded', result: { ok: true }, revision: done.revision });
    });

    it('refuses every write but an annotation', async () => {
      const done = await succeeded();
      await expect(store.transition({ id: 't', revision: done.revision, to: 'queued', reason: 'again' })).rejects.toMatchObject({ code: 'TASK_TERMINAL' });
      await expect(store.heartbeat({ id: 't', owner: A, revision: done.revision, leaseTtlMs: TTL })).rejects.toMatchObject({ code: 'TASK_TERMINAL' });
      await expect(store.requestCancel('t', 'too late')).rejects.toMatchObject({ code: 'TASK_TERMINAL' });
      await expect(store.reopen('t', 'again')).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
      await store.annotate('t', { author: 'ops', text: 'checked by hand' });
      const t = await store.get('t');
      expect(t).toMatchObject({ state: 'succeeded', revision: done.revision });
      expect(t?.annotations).toEqual([{ at: clock.now(), author: 'ops', text: 'checked by hand' }]);
    });
  });

  describe('reopen', () => {
    it.each(['failed', 'cancelled', 'quarantined'] as const)('re-opens a %s task with fresh budgets, recorded in history', async (end) => {
      await store.submit({ id: 't', kind: 'k' });
      const t = await claimOne();
      await store.transition({
        id: 't', revision: t.revision, owner: A, to: end, reason: 'gave up',
        attempts: { transient: 2, permanent: 2, crashes: 1 }, error: { class: 'permanent', message: 'boom' },
        compensations: [{ step: 'develop', status: 'done', at: clock.now() }],
      });
      clock.advance(100);
      const reopened = await store.reopen('t', 'fixed the agent');
      expect(reopened).toMatchObject({ state: 'queued', attempts: { transient: 0, permanent: 0, crashes: 0 }, availableAt: clock.now() });
      expect(reopened.error).toBeUndefined();
      expect(reopened.snapshot).toBeUndefined();
      const full = await store.get('t');
      expect(full?.history.at(-1)).toMatchObject({ from: end, to: 'queued' });
      expect(full?.history.at(-1)?.reason).toMatch(/fixed the agent.*boom.*develop=done/);
      expect((await claimOne(B)).id).toBe('t');
    });

    it('is refused on a task that has not finished', async () => {
      await store.submit({ id: 'q', kind: 'k' });
      await expect(store.reopen('q', 'x')).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
      await claimOne();
      await expect(store.reopen('q', 'x')).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
    });
  });

  describe('cancel requests', () => {
    it('cancels a task that never ran at once', async () => {
      await store.submit({ id: 't', kind: 'k' });
      const t = await store.requestCancel('t', 'not needed');
      expect(t.state).toBe('cancelled');
      expect((await store.get('t'))?.history.at(-1)).toMatchObject({ from: 'queued', to: 'cancelled' });
    });

    it('flags a held task so that its owner re-reads on its next write', async () => {
      await store.submit({ id: 't', kind: 'k' });
      const t = await claimOne();
      expect(await store.listCancelRequests(A)).toEqual([]);
      const flagged = await store.requestCancel('t', 'operator');
      expect(await store.listCancelRequests(A)).toEqual([{ id: 't', reason: 'operator' }]);
      expect(await store.listCancelRequests(B)).toEqual([]);
      expect(flagged).toMatchObject({ state: 'running', owner: A, cancelRequested: { reason: 'operator' } });
      await expect(store.heartbeat({ id: 't', owner: A, revision: t.revision, leaseTtlMs: TTL })).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
      const fresh = await store.get('t');
      await store.transition({ id: 't', revision: fresh!.revision, owner: A, to: 'cancelled', reason: 'cancelled on request' });
      expect((await store.get('t'))?.state).toBe('cancelled');
    });

    it('makes a task that already ran claimable for cleanup ahead of the queue', async () => {
      await store.submit({ id: 'ran', kind: 'k' });
      const t = await claimOne();
      await store.transition({ id: 'ran', revision: t.revision, owner: A, to: 'backoff', reason: 'retry', availableAt: clock.now() + 60_000, snapshot: { value: 'backoff' } });
      await store.submit({ id: 'other', kind: 'k', priority: 9 });
      expect((await store.requestCancel('ran', 'stop')).state).toBe('cancelling');
      const [first] = await store.claim({ owner: B, limit: 1, leaseTtlMs: TTL });
      expect(first).toMatchObject({ id: 'ran', state: 'cancelling', owner: B, snapshot: { value: 'backoff' } });
    });
  });

  describe('queries', () => {
    it('lists by state and kind, newest first, with a limit, and counts by state', async () => {
      await store.submit({ id: 'a', kind: 'x' });
      clock.advance(1);
      await store.submit({ id: 'b', kind: 'y' });
      clock.advance(1);
      await store.submit({ id: 'c', kind: 'x' });
      await claimOne();
      expect((await store.query()).map((t) => t.id)).toEqual(['c', 'b', 'a']);
      expect((await store.query({ kind: 'x' })).map((t) => t.id)).toEqual(['c', 'a']);
      expect((await store.query({ state: 'running' })).map((t) => t.id)).toEqual(['a']);
      expect((await store.query({ limit: 1 })).map((t) => t.id)).toEqual(['c']);
      expect(await store.countByState()).toEqual({ queued: 2, running: 1 });
      const [c] = await store.query({ limit: 1 });
      expect(c).not.toHaveProperty('snapshot');
      expect(c?.history).toHaveLength(1);
    });

    it('rejects a bad query naming the field', async () => {
      await expect(store.query({ state: 'nope' as never })).rejects.toThrow(/state/);
      await expect(store.query({ limit: 0 })).rejects.toThrow(/limit/);
    });
  });

  it('keeps every field across a restart', async () => {
    await store.submit({ id: 't', kind: 'k', input: { x: 1 }, labels: { team: 'a' }, timeoutMs: 5000, priority: 2 });
    const t = await claimOne();
    const hb = await store.heartbeat({ id: 't', owner: A, revision: t.revision, leaseTtlMs: TTL, details: { step: 1 } });
    await store.transition({
      id: 't', revision: hb.revision, owner: A, to: 'compensating', reason: 'budget exhausted', leaseTtlMs: TTL,
      attempts: { transient: 1, permanent: 2, crashes: 0 }, error: { class: 'permanent', code: 'E1', message: 'bad' },
      compensations: [{ step: 'develop', status: 'done', at: clock.now() }], snapshot: { value: 'compensating', context: { n: 1 } },
    });
    await store.annotate('t', { author: 'ops', text: 'watching' });
    const before = await store.get('t');
    const other = await peer();
    expect(await other.get('t')).toEqual(before);
    expect(before).toMatchObject({ leaseExpiresAt: clock.now() + TTL, heartbeatAt: clock.now(), snapshot: { value: 'compensating' } });
  });

  it('keeps rejected input as dead letters', async () => {
    const letter = await store.addDeadLetter({ source: 'nats:reeve.submit', code: 'INVALID_INPUT', reason: 'kind: required', payload: '{"input":1}\n' });
    expect(letter).toMatchObject({ receivedAt: clock.now(), excerpt: '{"input":1}\\u000a' });
    await store.addDeadLetter({ source: 'cli', code: 'INVALID_INPUT', reason: 'bad id', id: 'x y', payload: 'x'.repeat(500) });
    const letters = await store.listDeadLetters();
    expect(letters.map((l) => l.source)).toEqual(['cli', 'nats:reeve.submit']);
    expect(letters[0]).toMatchObject({ id: 'x y' });
    expect(letters[0]?.excerpt.length).toBeLessThan(210);
    expect(letters[0]?.payload).toHaveLength(500);
  });
}
