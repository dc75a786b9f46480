import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StoredTask, TaskStore } from '../../src/ports/task-store.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { A, B, TTL, type OpenHarness, type StoreHarness, type TaskStoreContext } from './task-store-context.ts';
import { describeLeaseCases } from './task-store-leases.cases.ts';
import { describeDecisionCases } from './task-store-decisions.cases.ts';
import { describeLifecycleCases } from './task-store-lifecycle.cases.ts';
import { describePurgeCases } from './task-store-purge.cases.ts';
import { describeWriteMetadataCases } from './task-store-write-meta.cases.ts';

export type { OpenHarness, StoreHarness } from './task-store-context.ts';

/**
 * The one TaskStore suite: every adapter runs it unchanged. Written against the port only.
 * Submit and claim cases are here; the rest are in the `task-store-*.cases.ts` modules, which
 * share this file's per-test store through a TaskStoreContext.
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

    const ctx: TaskStoreContext = {
      get clock() {
        return clock;
      },
      get store() {
        return store;
      },
      peer,
      claimOne,
    };

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
        // Equal but for `from`, which only a write sets (see the write-metadata cases).
        const { from: _from, ...firstTask } = first.task;
        expect(second.task).toEqual(firstTask);
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


    describeLeaseCases(ctx);
    describeLifecycleCases(ctx);
    describeWriteMetadataCases(ctx);
    describePurgeCases(ctx);
    describeDecisionCases(ctx);
  });
}
