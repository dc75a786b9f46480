import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoredTask, TaskStore, TaskWrite } from '../../src/ports/task-store.ts';
import { FakeClock } from '../support/fake-clock.ts';

/** What a backend gives the suite: a store, more connections to the same data, and cleanup. */
export interface StoreHarness {
  store: TaskStore;
  /** Another connection (another process's view) onto the same data. */
  openPeer(): Promise<TaskStore>;
  /** Closes everything; the data must survive until `dispose`. */
  dispose(): Promise<void>;
}

export type OpenHarness = (clock: FakeClock) => Promise<StoreHarness>;

const A = 'node-a:1';
const B = 'node-b:1';
const TTL = 15_000;

/**
 * The one TaskStore suite: every adapter runs it unchanged. Written against the port only.
 */
export function describeTaskStore(name: string, open: OpenHarness): void {
  describe(`TaskStore conformance: ${name}`, () => {
    let clock: FakeClock;
    let h: StoreHarness;
    let store: TaskStore;
    const peers: TaskStore[] = [];

    beforeEach(async () => {
      clock = new FakeClock();
      h = await open(clock);
      store = h.store;
    });
    afterEach(async () => {
      for (const p of peers.splice(0)) await p.close();
      await h.dispose();
    });

    async function peer(): Promise<TaskStore> {
      const p = await h.openPeer();
      peers.push(p);
      return p;
    }

    async function claimOne(owner = A, s = store): Promise<StoredTask> {
      const [task] = await s.claim({ owner, limit: 1, leaseTtlMs: TTL });
      if (!task) throw new Error('nothing claimed');
      return task;
    }

    describe('submit', () => {
      it('creates a queued task with defaults and a history entry', async () => {
        const { task, created } = await store.submit({ id: 't1', kind: 'echo', input: { a: 1 } });
        expect(created).toBe(true);
        expect(task).toMatchObject({
          id: 't1',
          kind: 'echo',
          state: 'queued',
          priority: 0,
          breakerKey: 'echo',
          input: { a: 1 },
          attempts: { transient: 0, permanent: 0, crashes: 0 },
          createdAt: clock.now(),
          availableAt: clock.now(),
        });
        const full = await store.get('t1');
        expect(full?.history).toEqual([{ at: clock.now(), from: null, to: 'queued', reason: 'submitted' }]);
        expect(full?.owner).toBeUndefined();
      });

      it('is idempotent on id: a second submit returns the first task and says so', async () => {
        const first = await store.submit({ id: 'dup', kind: 'echo', input: { n: 1 } });
        clock.advance(10);
        const second = await store.submit({ id: 'dup', kind: 'other', input: { n: 2 } });
        expect(second.created).toBe(false);
        expect(second.task).toEqual(first.task);
        expect((await store.query()).length).toBe(1);
      });

      it('generates a valid id when none is given', async () => {
        const { task } = await store.submit({ kind: 'echo' });
        expect(task.id).toMatch(/^[A-Za-z0-9_-]{1,128}$/);
      });

      it.each([
        ['a bad id', { id: 'has space', kind: 'echo' }, 'id'],
        ['an id that is too long', { id: 'x'.repeat(129), kind: 'echo' }, 'id'],
        ['a bad kind', { kind: 'no/slash' }, 'kind'],
        ['an input over 1 MiB', { kind: 'echo', input: 'x'.repeat(1024 * 1024 + 1) }, 'input'],
        ['a negative timeout', { kind: 'echo', timeoutMs: -5 }, 'timeoutMs'],
        ['a fractional priority', { kind: 'echo', priority: 1.5 }, 'priority'],
        ['an unknown field', { kind: 'echo', bogus: true }, ''],
      ])('rejects %s naming the field, and writes nothing', async (_what, request, field) => {
        const err = await store.submit(request as never).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'INVALID_INPUT' });
        expect((err as Error).message).toContain(field);
        expect(await store.query()).toEqual([]);
      });
    });

    describe('claim', () => {
      it('takes the highest priority first, FIFO within a priority', async () => {
        await store.submit({ id: 'low', kind: 'k' });
        clock.advance(1);
        await store.submit({ id: 'high1', kind: 'k', priority: 5 });
        clock.advance(1);
        await store.submit({ id: 'mid', kind: 'k', priority: 1 });
        clock.advance(1);
        await store.submit({ id: 'high2', kind: 'k', priority: 5 });
        const claimed = await store.claim({ owner: A, limit: 10, leaseTtlMs: TTL });
        expect(claimed.map((t) => t.id)).toEqual(['high1', 'high2', 'mid', 'low']);
        for (const t of claimed) {
          expect(t).toMatchObject({ state: 'running', owner: A, leaseExpiresAt: clock.now() + TTL });
        }
      });

      it('claims at most the limit and never the same task twice', async () => {
        for (let i = 0; i < 5; i++) await store.submit({ id: `t${i}`, kind: 'k' });
        const first = await store.claim({ owner: A, limit: 3, leaseTtlMs: TTL });
        const second = await store.claim({ owner: B, limit: 3, leaseTtlMs: TTL });
        expect(first).toHaveLength(3);
        expect(second).toHaveLength(2);
        expect(new Set([...first, ...second].map((t) => t.id)).size).toBe(5);
        expect(await store.claim({ owner: B, limit: 3, leaseTtlMs: TTL })).toEqual([]);
      });

      it('does not claim a task in backoff before its availableAt', async () => {
        await store.submit({ id: 't', kind: 'k' });
        const t = await claimOne();
        await store.transition({
          id: 't', revision: t.revision, owner: A, to: 'backoff', reason: 'transient failure',
          availableAt: clock.now() + 1000, attempts: { transient: 1, permanent: 0, crashes: 0 },
        });
        expect(await store.claim({ owner: B, limit: 1, leaseTtlMs: TTL })).toEqual([]);
        clock.advance(1000);
        const [again] = await store.claim({ owner: B, limit: 1, leaseTtlMs: TTL });
        expect(again).toMatchObject({ id: 't', state: 'running', owner: B, attempts: { transient: 1 } });
      });

      it('skips excluded breaker keys and keeps to the given kinds', async () => {
        await store.submit({ id: 'a', kind: 'claude' });
        await store.submit({ id: 'b', kind: 'claude', breakerKey: 'anthropic' });
        await store.submit({ id: 'c', kind: 'build' });
        const claimed = await store.claim({ owner: A, limit: 10, leaseTtlMs: TTL, excludeBreakerKeys: ['anthropic'], kinds: ['claude'] });
        expect(claimed.map((t) => t.id)).toEqual(['a']);
        const probe = await store.claim({ owner: A, limit: 10, leaseTtlMs: TTL, breakerKeys: ['anthropic'] });
        expect(probe.map((t) => t.id)).toEqual(['b']);
      });

      it('never gives one task to two claimers racing on separate connections', async () => {
        for (let i = 0; i < 60; i++) await store.submit({ id: `r${i}`, kind: 'k' });
        const stores = [store, await peer(), await peer()];
        const rounds = await Promise.all(
          stores.flatMap((s, i) => Array.from({ length: 10 }, () => s.claim({ owner: `n${i}:1`, limit: 3, leaseTtlMs: TTL }))),
        );
        const ids = rounds.flat().map((t) => t.id);
        expect(ids).toHaveLength(60);
        expect(new Set(ids).size).toBe(60);
      });

      it('validates the request', async () => {
        await expect(store.claim({ owner: A, limit: 0, leaseTtlMs: TTL })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
        await expect(store.claim({ owner: A, limit: 1, leaseTtlMs: -1 })).rejects.toThrow(/leaseTtlMs/);
      });
    });

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
  });
}
