import { beforeEach, describe, expect, it } from 'vitest';
import type { TaskStore } from '../../src/ports/task-store.ts';
import type { FakeClock } from '../support/fake-clock.ts';
import { A, B, TTL, type TaskStoreContext } from './task-store-context.ts';

/** TaskStore cases: leases and fencing, compare-and-set, group commit. */
export function describeLeaseCases(ctx: TaskStoreContext): void {
  let clock: FakeClock;
  let store: TaskStore;
  beforeEach(() => {
    clock = ctx.clock;
    store = ctx.store;
  });
  const { claimOne } = ctx;

  describe('leases and fencing', () => {
    beforeEach(async () => {
      await store.submit({ id: 't', kind: 'k' });
    });

    it('extends the lease on heartbeat and keeps progress details', async () => {
      const t = await claimOne();
      clock.advance(10_000);
      const hb = await store.heartbeat({ id: 't', owner: A, revision: t.revision, leaseTtlMs: TTL, details: { pct: 40 } });
      expect(hb.leaseExpiresAt).toBe(clock.now() + TTL);
      expect(hb.heartbeatAt).toBe(clock.now());
      expect((await store.get('t'))?.progress).toEqual({ pct: 40 });
      expect(hb.revision).toBeGreaterThan(t.revision);
    });

    it('rejects a heartbeat from the wrong owner and changes nothing', async () => {
      const t = await claimOne();
      await expect(store.heartbeat({ id: 't', owner: B, revision: t.revision, leaseTtlMs: TTL })).rejects.toMatchObject({ code: 'LEASE_LOST' });
      expect(await store.get('t')).toMatchObject({ revision: t.revision, owner: A, leaseExpiresAt: t.leaseExpiresAt });
    });

    it('rejects a heartbeat after the lease expired', async () => {
      const t = await claimOne();
      clock.advance(TTL);
      await expect(store.heartbeat({ id: 't', owner: A, revision: t.revision, leaseTtlMs: TTL })).rejects.toMatchObject({ code: 'LEASE_LOST' });
      expect((await store.get('t'))?.revision).toBe(t.revision);
    });

    it('lists an expired lease as stale, re-queues it with a crash, and lets another node take it', async () => {
      const t = await claimOne();
      clock.advance(TTL - 1);
      expect(await store.listStale()).toEqual([]);
      clock.advance(1);
      const [stale] = await store.listStale();
      expect(stale).toMatchObject({ id: 't', owner: A });
      const requeued = await store.requeueStale('t', stale!.revision, { crashLimit: 3 });
      expect(requeued).toMatchObject({ state: 'queued', attempts: { crashes: 1 } });
      expect(requeued.owner).toBeUndefined();
      const taken = await claimOne(B);
      expect(taken).toMatchObject({ id: 't', owner: B });
      // The old owner is fenced: its next write fails and changes nothing.
      await expect(
        store.transition({ id: 't', revision: t.revision, owner: A, to: 'succeeded', reason: 'done', result: 1 }),
      ).rejects.toMatchObject({ code: 'LEASE_LOST' });
      await expect(store.heartbeat({ id: 't', owner: A, revision: taken.revision, leaseTtlMs: TTL })).rejects.toMatchObject({ code: 'LEASE_LOST' });
      expect(await store.get('t')).toMatchObject({ state: 'running', owner: B, revision: taken.revision });
    });

    it('fences an owner whose lease expired even before anyone took over', async () => {
      const t = await claimOne();
      clock.advance(TTL + 1);
      await expect(store.transition({ id: 't', revision: t.revision, owner: A, to: 'succeeded', reason: 'late' })).rejects.toMatchObject({
        code: 'LEASE_LOST',
      });
    });

    it('lets a restarted node take back its previous incarnation’s live leases at once', async () => {
      const t = await claimOne('node_a:1');
      await store.submit({ id: 'other', kind: 'k' });
      await claimOne('nodeXa:1');
      const owned = await store.listOwned('node_a:');
      expect(owned.map((o) => o.id)).toEqual(['t']);
      await expect(store.requeueStale('t', t.revision, { crashLimit: 3, deadOwner: 'node_b:1' })).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
      const back = await store.requeueStale('t', t.revision, { crashLimit: 3, deadOwner: 'node_a:1' });
      expect(back).toMatchObject({ state: 'queued', attempts: { crashes: 1 } });
      expect((await store.get('t'))?.history.at(-1)?.reason).toMatch(/died/);
    });

    it('releases a lease on request even in a leased state', async () => {
      const t = await claimOne();
      const w = await store.transition({ id: 't', revision: t.revision, owner: A, to: 'compensating', reason: 'drain', release: true });
      expect(w.owner).toBeUndefined();
      const [again] = await store.claim({ owner: B, limit: 1, leaseTtlMs: TTL });
      expect(again).toMatchObject({ id: 't', state: 'compensating', owner: B });
    });

    it('refuses to re-queue a lease that is still live', async () => {
      const t = await claimOne();
      await expect(store.requeueStale('t', t.revision, { crashLimit: 3 })).rejects.toMatchObject({ code: 'INVALID_TRANSITION' });
    });

    it('quarantines a task whose crash count reaches the limit, with the reason in history', async () => {
      for (let crash = 1; crash <= 2; crash++) {
        await claimOne();
        clock.advance(TTL);
        const [stale] = await store.listStale();
        await store.requeueStale('t', stale!.revision, { crashLimit: 2 });
      }
      const t = await store.get('t');
      expect(t).toMatchObject({ state: 'quarantined', attempts: { crashes: 2 }, error: { class: 'lost-lease' } });
      expect(t?.history.at(-1)).toMatchObject({ from: 'running', to: 'quarantined' });
      expect(t?.history.at(-1)?.reason).toMatch(/poison/);
      expect(await store.claim({ owner: A, limit: 1, leaseTtlMs: TTL })).toEqual([]);
    });

    it('releases the lease when the owner writes a state that is not leased', async () => {
      const t = await claimOne();
      const after = await store.transition({
        id: 't', revision: t.revision, owner: A, to: 'backoff', reason: 'retry later', availableAt: clock.now() + 5,
      });
      expect(after.owner).toBeUndefined();
      expect(after.leaseExpiresAt).toBeUndefined();
      clock.advance(TTL * 2);
      expect(await store.listStale()).toEqual([]);
    });

    it('keeps and renews the lease across steps while running', async () => {
      const t = await claimOne();
      clock.advance(1000);
      const next = await store.transition({ id: 't', revision: t.revision, owner: A, to: 'running', step: 'review', reason: 'step develop done', leaseTtlMs: TTL });
      expect(next).toMatchObject({ owner: A, step: 'review', leaseExpiresAt: clock.now() + TTL });
      const full = await store.get('t');
      expect(full?.history.at(-1)).toMatchObject({ from: 'running', to: 'running' });
    });

    it('records a write within one state and step only when asked to (a goto back into the same step)', async () => {
      const t = await claimOne();
      const quiet = await store.transition({ id: 't', revision: t.revision, owner: A, to: 'running', step: 'develop', reason: 'claimed to run step develop', leaseTtlMs: TTL });
      const before = (await store.get('t'))!.history.length;
      const same = await store.transition({ id: 't', revision: quiet.revision, owner: A, to: 'running', step: 'develop', reason: 'progress only', leaseTtlMs: TTL });
      expect((await store.get('t'))!.history).toHaveLength(before);
      await store.transition({ id: 't', revision: same.revision, owner: A, to: 'running', step: 'develop', reason: 'step develop done → develop (visit 2 of 3)', leaseTtlMs: TTL, record: true });
      const full = await store.get('t');
      expect(full!.history).toHaveLength(before + 1);
      expect(full!.history.at(-1)).toMatchObject({ from: 'running', to: 'running', reason: 'step develop done → develop (visit 2 of 3)' });
    });

    it('records nothing for a write within one state that says so, even when the step changes, but always a change of state', async () => {
      const t = await claimOne();
      const before = (await store.get('t'))!.history.length;
      const w = await store.transition({ id: 't', revision: t.revision, owner: A, to: 'running', step: 'develop', reason: 'naming the step', leaseTtlMs: TTL, record: false });
      const full = await store.get('t');
      expect(full).toMatchObject({ step: 'develop', revision: w.revision });
      expect(full!.history).toHaveLength(before);
      await store.transition({ id: 't', revision: w.revision, owner: A, to: 'waiting', reason: 'waiting for approval', record: false });
      expect((await store.get('t'))!.history.at(-1)).toMatchObject({ from: 'running', to: 'waiting', reason: 'waiting for approval' });
    });
  });

  describe('compare-and-set', () => {
    it('rejects a write with a stale revision and changes nothing', async () => {
      await store.submit({ id: 't', kind: 'k' });
      const t = await claimOne();
      const moved = await store.transition({ id: 't', revision: t.revision, owner: A, to: 'running', step: 's2', reason: 'next' });
      await expect(
        store.transition({ id: 't', revision: t.revision, owner: A, to: 'succeeded', reason: 'stale write' }),
      ).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
      expect(await store.get('t')).toMatchObject({ state: 'running', revision: moved.revision, step: 's2' });
    });

    it('rejects a transition the state table does not allow', async () => {
      await store.submit({ id: 't', kind: 'k' });
      const t = await store.get('t');
      await expect(store.transition({ id: 't', revision: t!.revision, to: 'succeeded', reason: 'skip the run' })).rejects.toMatchObject({
        code: 'INVALID_TRANSITION',
      });
      await expect(store.transition({ id: 't', revision: t!.revision, to: 'running', reason: 'no owner' })).rejects.toMatchObject({
        code: 'INVALID_TRANSITION',
      });
    });

    it('refuses an unowned write to a task someone holds', async () => {
      await store.submit({ id: 't', kind: 'k' });
      const t = await claimOne();
      await expect(store.transition({ id: 't', revision: t.revision, to: 'cancelled', reason: 'operator' })).rejects.toMatchObject({
        code: 'INVALID_TRANSITION',
      });
    });

    it('rejects an unknown state naming it', async () => {
      await store.submit({ id: 't', kind: 'k' });
      await expect(store.transition({ id: 't', revision: 1, to: 'done' as never, reason: 'x' })).rejects.toThrow(/to: must be one of/);
    });

    it('rejects a malformed write naming the field, and changes nothing', async () => {
      await store.submit({ id: 't', kind: 'k' });
      const t = await claimOne();
      const bad = [
        { id: 't', revision: t.revision, owner: A, to: 'backoff', reason: 'x', availableAt: -1 },
        { id: 't', revision: t.revision, owner: A, to: 'running', reason: '' },
        { id: 't', revision: t.revision, owner: A, to: 'running', reason: 'x', leaseTtlMs: 0 },
        { id: 't', revision: t.revision, owner: A, to: 'running', reason: 'x', attempts: { transient: -1, permanent: 0, crashes: 0 } },
        { id: 'bad id', revision: t.revision, owner: A, to: 'running', reason: 'x' },
      ];
      for (const request of bad) {
        await expect(store.transition(request as never), JSON.stringify(request)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      }
      await expect(store.heartbeat({ id: 't', owner: A, revision: t.revision, leaseTtlMs: -5 })).rejects.toThrow(/leaseTtlMs/);
      expect(await store.get('t')).toMatchObject({ revision: t.revision, state: 'running' });
    });

    it('reports a missing task as not found', async () => {
      await expect(store.transition({ id: 'nope', revision: 1, to: 'cancelled', reason: 'x' })).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
      expect(await store.get('nope')).toBeUndefined();
    });
  });

  describe('group commit', () => {
    it('applies each write on its own terms and reports refused ones in place', async () => {
      for (const id of ['a', 'b', 'c']) await store.submit({ id, kind: 'k' });
      const [a, b, c] = await store.claim({ owner: A, limit: 3, leaseTtlMs: TTL });
      const results = await store.transitionMany([
        { id: a!.id, revision: a!.revision, owner: A, to: 'succeeded', reason: 'done', result: null },
        { id: b!.id, revision: b!.revision + 5, owner: A, to: 'succeeded', reason: 'stale' },
        { id: c!.id, revision: c!.revision, owner: B, to: 'succeeded', reason: 'not mine' },
        { id: 'zz', revision: 1, owner: A, to: 'succeeded', reason: 'missing' },
        { id: 'bad id', revision: 1, owner: A, to: 'succeeded', reason: 'malformed' },
      ]);
      expect(results[0]).toMatchObject({ id: 'a', state: 'succeeded' });
      expect(results.slice(1).map((r) => (r as { code?: string }).code)).toEqual(['STORE_CONFLICT', 'LEASE_LOST', 'TASK_NOT_FOUND', 'INVALID_INPUT']);
      expect(await store.get('a')).toMatchObject({ state: 'succeeded', result: null });
      expect(await store.get('b')).toMatchObject({ state: 'running', revision: b!.revision });
      expect(await store.get('c')).toMatchObject({ state: 'running', revision: c!.revision });
    });
  });

}
