import { afterEach, describe, expect, it } from 'vitest';
import { ThreadPool } from '../../src/pool/thread-pool.ts';

const worker = new URL('../fixtures/procs/batch-worker.mjs', import.meta.url);
type Out = { threadId: number; batch: number };

let pool: ThreadPool | undefined;
afterEach(async () => {
  await pool?.destroy();
  pool = undefined;
});

const open = (o: { maxThreads: number; tasksPerThread: number; minThreads?: number; idleTimeoutMs?: number }) =>
  (pool = new ThreadPool({ filename: worker, minThreads: o.minThreads ?? 1, idleTimeoutMs: o.idleTimeoutMs ?? 30_000, maxThreads: o.maxThreads, tasksPerThread: o.tasksPerThread, onError: () => undefined }));

describe('ThreadPool', () => {
  it('hands the runs of one turn to the least busy threads, one message per thread', async () => {
    const p = open({ maxThreads: 2, tasksPerThread: 3 });
    const given: number[] = [];
    const outs = (await Promise.all(Array.from({ length: 6 }, () => p.run({ ms: 20 }, { onNote: () => undefined, onThread: (id) => given.push(id) })))) as Out[];
    expect(new Set(given).size).toBe(2);
    for (const id of new Set(given)) expect(given.filter((g) => g === id)).toHaveLength(3);
    expect(outs.map((o) => o.batch)).toEqual([3, 3, 3, 3, 3, 3]);
    expect(outs.map((o) => o.threadId)).toEqual(given);
  });

  it("delivers a run's own messages, in order, before its result", async () => {
    const p = open({ maxThreads: 1, tasksPerThread: 4 });
    const seen: unknown[] = [];
    const result = p.run({ notes: 3 }, { onNote: (n) => seen.push(n) }).then((r) => seen.push('result') && r);
    await result;
    expect(seen).toEqual([{ i: 0 }, { i: 1 }, { i: 2 }, 'result']);
  });

  it('delivers a control message sent once a run is given to a new thread after that run', async () => {
    const p = open({ maxThreads: 2, tasksPerThread: 1 });
    const runs = ['a', 'b'].map((key) => p.run({ control: key }, { onNote: () => undefined, onThread: (id) => p.send(id, { key, value: `${key}!` }) }));
    expect(((await Promise.all(runs)) as Array<{ value: string }>).map((r) => r.value)).toEqual(['a!', 'b!']);
  });

  it('keeps a run waiting while every thread holds tasksPerThread runs, and starts it when one ends', async () => {
    const p = open({ maxThreads: 1, tasksPerThread: 1 });
    const order: string[] = [];
    const first = p.run({ ms: 150 }, { onNote: () => undefined, onThread: () => order.push('first given') }).then(() => order.push('first done'));
    const second = p.run({}, { onNote: () => undefined, onThread: () => order.push('second given') }).then(() => order.push('second done'));
    await Promise.all([first, second]);
    expect(order).toEqual(['first given', 'first done', 'second given', 'second done']);
  });

  it('fails the runs of a terminated thread and goes on with a new one', async () => {
    const p = open({ maxThreads: 1, tasksPerThread: 2 });
    let thread = 0;
    const doomed = p.run({ ms: 10_000 }, { onNote: () => undefined, onThread: (id) => (thread = id) });
    await new Promise((resolve) => setTimeout(resolve, 50));
    p.terminate(thread);
    await expect(doomed).rejects.toThrow(/terminated/);
    const next = (await p.run({}, { onNote: () => undefined })) as Out;
    expect(next.threadId).not.toBe(thread);
  });

  it('ends a thread idle past idleTimeoutMs when more than minThreads run', async () => {
    const p = open({ maxThreads: 2, tasksPerThread: 1, minThreads: 1, idleTimeoutMs: 100 });
    await Promise.all([p.run({ ms: 20 }, { onNote: () => undefined }), p.run({ ms: 20 }, { onNote: () => undefined })]);
    expect(p.threadIds).toHaveLength(2);
    for (let i = 0; i < 100 && p.threadIds.length > 1; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(p.threadIds).toHaveLength(1);
  });
});
