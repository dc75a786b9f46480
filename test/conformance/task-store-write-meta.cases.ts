import { beforeEach, describe, expect, it } from 'vitest';
import type { TaskStore } from '../../src/ports/task-store.ts';
import type { FakeClock } from '../support/fake-clock.ts';
import { A, B, TTL, type TaskStoreContext } from './task-store-context.ts';

/**
 * TaskStore cases: what each write says about itself, so a task event ({ id, kind, state, from,
 * ... }) can be published from the write's result alone. TaskWrite carries `kind` and `from`
 * (the state before the write); the writes that return a StoredTask set `from` on it, and only
 * when they wrote something.
 */
export function describeWriteMetadataCases(ctx: TaskStoreContext): void {
  let clock: FakeClock;
  let store: TaskStore;
  beforeEach(() => {
    clock = ctx.clock;
    store = ctx.store;
  });
  const { claimOne, peer } = ctx;

  describe('write metadata (kind, from)', () => {
    it('submit: from is null when it creates the task, absent when the task already existed', async () => {
      const first = await store.submit({ id: 't', kind: 'echo' });
      expect(first.task).toMatchObject({ id: 't', kind: 'echo', state: 'queued', from: null });
      const again = await store.submit({ id: 't', kind: 'echo' });
      expect(again.created).toBe(false);
      expect(again.task.from).toBeUndefined();
    });

    it('claim: each task says the state it was claimed from', async () => {
      await store.submit({ id: 'q', kind: 'k' });
      const t = await claimOne();
      expect(t).toMatchObject({ id: 'q', state: 'running', from: 'queued' });
      await store.transition({ id: 'q', revision: t.revision, owner: A, to: 'backoff', reason: 'retry', availableAt: clock.now() + 10, snapshot: { value: 'backoff' } });
      await store.submit({ id: 'c', kind: 'k' });
      const c = await claimOne(B);
      await store.transition({ id: 'c', revision: c.revision, owner: B, to: 'compensating', reason: 'drain', release: true });
      clock.advance(10);
      const claimed = await store.claim({ owner: A, limit: 10, leaseTtlMs: TTL });
      expect(claimed.map((x) => [x.id, x.from, x.state])).toEqual([
        ['c', 'compensating', 'compensating'],
        ['q', 'backoff', 'running'],
      ]);
    });

    it('transition: returns the kind and the state it left, in every step of a run', async () => {
      await store.submit({ id: 't', kind: 'echo' });
      const t = await claimOne();
      const step = await store.transition({ id: 't', revision: t.revision, owner: A, to: 'running', step: 's2', reason: 'next step' });
      expect(step).toMatchObject({ id: 't', kind: 'echo', from: 'running', state: 'running' });
      const backoff = await store.transition({ id: 't', revision: step.revision, owner: A, to: 'backoff', reason: 'retry', availableAt: clock.now() });
      expect(backoff).toMatchObject({ kind: 'echo', from: 'running', state: 'backoff' });
      const again = await claimOne();
      const done = await store.transition({ id: 't', revision: again.revision, owner: A, to: 'succeeded', reason: 'done', result: 1 });
      expect(done).toMatchObject({ kind: 'echo', from: 'running', state: 'succeeded' });
    });

    it('transition: an unowned write reports its from too', async () => {
      await store.submit({ id: 't', kind: 'echo' });
      const queued = await store.get('t');
      const w = await store.transition({ id: 't', revision: queued!.revision, to: 'cancelled', reason: 'operator' });
      expect(w).toMatchObject({ kind: 'echo', from: 'queued', state: 'cancelled' });
    });

    it('transition: from is the state actually replaced after another connection changed the task', async () => {
      await store.submit({ id: 't', kind: 'echo' });
      const t = await claimOne();
      await store.transition({ id: 't', revision: t.revision, owner: A, to: 'running', step: 's2', reason: 'next' });
      // A peer's cancel request bumps the revision: the owner re-reads and writes on the fresh record.
      const flagged = await (await peer()).requestCancel('t', 'operator');
      expect(flagged).toMatchObject({ state: 'running', from: 'running' });
      const w = await store.transition({ id: 't', revision: flagged.revision, owner: A, to: 'cancelling', reason: 'cancel seen' });
      expect(w).toMatchObject({ kind: 'echo', from: 'running', state: 'cancelling' });
      const end = await store.transition({ id: 't', revision: w.revision, owner: A, to: 'compensating', reason: 'run stopped' });
      expect(end).toMatchObject({ from: 'cancelling', state: 'compensating' });
    });

    it('heartbeat: returns the kind, and from equal to the unchanged state', async () => {
      await store.submit({ id: 't', kind: 'echo' });
      const t = await claimOne();
      const hb = await store.heartbeat({ id: 't', owner: A, revision: t.revision, leaseTtlMs: TTL });
      expect(hb).toMatchObject({ id: 't', kind: 'echo', from: 'running', state: 'running' });
    });

    it('transitionMany: every written slot carries kind and from; refused slots stay errors', async () => {
      await store.submit({ id: 'a', kind: 'x' });
      await store.submit({ id: 'b', kind: 'y' });
      const [a, b] = await store.claim({ owner: A, limit: 2, leaseTtlMs: TTL });
      const results = await store.transitionMany([
        { id: a!.id, revision: a!.revision, owner: A, to: 'succeeded', reason: 'done' },
        { id: b!.id, revision: b!.revision, owner: A, to: 'compensating', reason: 'failed', leaseTtlMs: TTL },
        { id: b!.id, revision: b!.revision, owner: A, to: 'failed', reason: 'stale' },
      ]);
      expect(results[0]).toMatchObject({ id: 'a', kind: 'x', from: 'running', state: 'succeeded' });
      expect(results[1]).toMatchObject({ id: 'b', kind: 'y', from: 'running', state: 'compensating' });
      expect(results[2]).toBeInstanceOf(Error);
      expect(results[2]).toMatchObject({ code: 'STORE_CONFLICT' });
    });

    it('requeueStale: from is the state the expired lease held', async () => {
      await store.submit({ id: 'r', kind: 'k' });
      await claimOne();
      await store.submit({ id: 'c', kind: 'k' });
      const c = await claimOne();
      await store.transition({ id: 'c', revision: c.revision, owner: A, to: 'compensating', reason: 'failed', leaseTtlMs: TTL });
      clock.advance(TTL);
      const stale = await store.listStale();
      expect(stale.map((s) => s.from)).toEqual([undefined, undefined]);
      const back = await Promise.all(stale.map((s) => store.requeueStale(s.id, s.revision, { crashLimit: 3 })));
      expect(back.map((s) => [s.id, s.from, s.state]).sort()).toEqual([
        ['c', 'compensating', 'compensating'],
        ['r', 'running', 'queued'],
      ]);
    });

    it('requeueStale: a quarantine says it came from running', async () => {
      await store.submit({ id: 'p', kind: 'k' });
      const t = await claimOne();
      const back = await store.requeueStale('p', t.revision, { crashLimit: 1, deadOwner: A });
      expect(back).toMatchObject({ state: 'quarantined', from: 'running' });
    });

    it('requestCancel: from on every write; absent when the request was already recorded', async () => {
      await store.submit({ id: 'q', kind: 'k' });
      expect(await store.requestCancel('q', 'not needed')).toMatchObject({ state: 'cancelled', from: 'queued' });
      await store.submit({ id: 'h', kind: 'k' });
      await claimOne();
      expect(await store.requestCancel('h', 'operator')).toMatchObject({ state: 'running', from: 'running' });
      const repeated = await store.requestCancel('h', 'operator again');
      expect(repeated.state).toBe('running');
      expect(repeated.from).toBeUndefined();
    });

    it('reopen: from is the terminal state it re-opened', async () => {
      await store.submit({ id: 't', kind: 'k' });
      const t = await claimOne();
      await store.transition({ id: 't', revision: t.revision, owner: A, to: 'failed', reason: 'gave up', error: { class: 'permanent', message: 'boom' } });
      expect(await store.reopen('t', 'fixed')).toMatchObject({ state: 'queued', from: 'failed' });
    });

    it('is never stored: reads and listings do not return from', async () => {
      await store.submit({ id: 't', kind: 'k' });
      await claimOne();
      await store.requestCancel('t', 'operator');
      const other = await peer();
      for (const s of [store, other]) {
        expect(await s.get('t')).not.toHaveProperty('from');
        expect((await s.query())[0]).not.toHaveProperty('from');
      }
      expect((await store.listOwned('node-a:'))[0]).not.toHaveProperty('from');
      clock.advance(TTL);
      expect((await store.listStale())[0]).not.toHaveProperty('from');
    });
  });
}
