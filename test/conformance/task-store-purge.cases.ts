import { beforeEach, describe, expect, it } from 'vitest';
import type { TaskStore } from '../../src/ports/task-store.ts';
import type { TaskState } from '../../src/protocol/task-states.ts';
import type { FakeClock } from '../support/fake-clock.ts';
import { A, type TaskStoreContext } from './task-store-context.ts';

/** TaskStore cases: `purge` (the operator's way to delete finished tasks for good), and `countQueued`. */
export function describePurgeCases(ctx: TaskStoreContext): void {
  let clock: FakeClock;
  let store: TaskStore;
  beforeEach(() => {
    clock = ctx.clock;
    store = ctx.store;
  });

  /** Submits `id`, claims it and ends it in `to` at the clock's current time. */
  async function finished(id: string, to: TaskState): Promise<void> {
    await store.submit({ id, kind: 'k' });
    const [task] = await store.claim({ owner: A, limit: 1, leaseTtlMs: 15_000, kinds: ['k'] });
    if (task?.id !== id) throw new Error(`claimed ${task?.id}, not ${id}`);
    await store.transition({ id, revision: task.revision, owner: A, to, reason: 'test', ...(to === 'succeeded' ? { result: 'ok' } : {}) });
  }

  describe('purge', () => {
    it('deletes finished tasks older than `before`, oldest first, with their history and annotations, and nothing else', async () => {
      const t0 = clock.now();
      await finished('old-ok', 'succeeded');
      clock.advance(10);
      await finished('old-failed', 'failed');
      await store.annotate('old-ok', { author: 'ana', text: 'looked at it' });
      clock.advance(10);
      await store.submit({ id: 'live', kind: 'other' });
      clock.advance(100);
      await finished('recent', 'cancelled');

      const result = await store.purge({ before: t0 + 50 });
      expect(result).toEqual({ ids: ['old-ok', 'old-failed'], dryRun: false });
      expect(await store.get('old-ok')).toBeUndefined();
      expect(await store.get('old-failed')).toBeUndefined();
      expect((await store.query({ limit: 10 })).map((t) => t.id).sort()).toEqual(['live', 'recent']);
      expect(await store.countByState()).toEqual({ queued: 1, cancelled: 1 });

      // The id is free again: a new submission is a new task with no history or notes.
      const again = await store.submit({ id: 'old-ok', kind: 'k' });
      expect(again.created).toBe(true);
      const fresh = await store.get('old-ok');
      expect(fresh?.history.map((h) => h.to)).toEqual(['queued']);
      expect(fresh?.annotations).toEqual([]);
    });

    it('reports without deleting on a dry run; states and limit narrow it', async () => {
      await finished('a', 'succeeded');
      clock.advance(1);
      await finished('b', 'failed');
      clock.advance(1);
      await finished('c', 'succeeded');
      clock.advance(1);
      expect(await store.purge({ before: clock.now(), dryRun: true })).toEqual({ ids: ['a', 'b', 'c'], dryRun: true });
      expect(await store.countByState()).toEqual({ succeeded: 2, failed: 1 });
      expect(await store.purge({ before: clock.now(), states: ['succeeded'], limit: 1 })).toEqual({ ids: ['a'], dryRun: false });
      expect(await store.purge({ before: clock.now(), states: ['failed'] })).toEqual({ ids: ['b'], dryRun: false });
      expect(await store.countByState()).toEqual({ succeeded: 1 });
    });

    it('never deletes a task that is not finished, and another connection sees the deletion', async () => {
      await store.submit({ id: 'q', kind: 'waits' });
      await finished('done', 'succeeded');
      clock.advance(1_000);
      const other = await ctx.peer();
      expect(await other.get('done')).toBeDefined();
      expect((await store.purge({ before: clock.now() })).ids).toEqual(['done']);
      expect(await other.get('done')).toBeUndefined();
      expect((await other.get('q'))?.state).toBe('queued');
    });

    it('deletes dead letters received before `before`, oldest first, and keeps the rest listed', async () => {
      const letter = (n: number) => ({ source: 'cli', code: 'INVALID_INPUT', reason: `bad ${n}`, payload: `{"n":${n}}` });
      const old1 = await store.addDeadLetter(letter(1));
      const old2 = await store.addDeadLetter(letter(2));
      clock.advance(100);
      const cutoff = clock.now();
      const young = await store.addDeadLetter(letter(3));
      expect(await store.purgeDeadLetters({ before: cutoff, dryRun: true })).toEqual({ seqs: [old1.seq, old2.seq], dryRun: true });
      expect(await store.purgeDeadLetters({ before: cutoff, limit: 1 })).toEqual({ seqs: [old1.seq], dryRun: false });
      expect((await store.listDeadLetters()).map((l) => l.reason)).toEqual(['bad 3', 'bad 2']);
      expect(await store.purgeDeadLetters({ before: cutoff })).toEqual({ seqs: [old2.seq], dryRun: false });
      expect(await store.purgeDeadLetters({ before: cutoff })).toEqual({ seqs: [], dryRun: false });
      // Numbering goes on after a purge; a later purge takes the letters that aged since.
      clock.advance(100);
      const next = await store.addDeadLetter(letter(4));
      expect(next.seq).toBeGreaterThan(young.seq);
      expect(await store.purgeDeadLetters({ before: clock.now() })).toEqual({ seqs: [young.seq], dryRun: false });
      expect((await store.listDeadLetters()).map((l) => l.reason)).toEqual(['bad 4']);
      await expect(store.purgeDeadLetters({ before: 1, limit: 0 })).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    });

    it('refuses a live state or a bad limit, naming the field and the fix', async () => {
      await expect(store.purge({ before: 1, states: ['running' as never] })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/only finished tasks can be purged/) });
      await expect(store.purge({ before: 1, limit: 20_000 })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/at most 10000/) });
      await expect(store.purge({ before: -1 })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/before/) });
    });
  });

  describe('countQueued', () => {
    it('counts queued tasks by kind (what a node’s intake waits on)', async () => {
      await store.submit({ id: 'a1', kind: 'a' });
      await store.submit({ id: 'a2', kind: 'a' });
      await store.submit({ id: 'b1', kind: 'b' });
      await finished('k1', 'succeeded');
      expect(await store.countQueued(['a'])).toBe(2);
      expect(await store.countQueued(['a', 'b', 'k'])).toBe(3);
      expect(await store.countQueued([])).toBe(0);
      await store.claim({ owner: A, limit: 1, leaseTtlMs: 15_000, kinds: ['a'] });
      expect(await store.countQueued(['a'])).toBe(1);
    });

  });
}
