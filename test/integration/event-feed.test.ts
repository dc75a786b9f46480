import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventFeed, type FeedEvent } from '../../src/http/event-feed.ts';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { InProcessBus } from '../../src/transport/in-process-bus.ts';
import { subjects } from '../../src/protocol/subjects.ts';
import { recordingLogger } from '../support/recording-logger.ts';
import { tempDir } from '../support/temp-dir.ts';

/**
 * The embedded event feed following a real SQLite file that two connections share, as a node
 * and the CLI do (two processes; here two connections of one process, which SQLite treats alike).
 */
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const undo of cleanup.splice(0).reverse()) await undo();
});

function twoConnections() {
  const dir = tempDir('reeve-feed-');
  const path = join(dir.path, 'reeve.db');
  const node = openSqliteTaskStore({ path });
  const cli = openSqliteTaskStore({ path });
  cleanup.push(async () => {
    await cli.close();
    await node.close();
    dir.remove();
  });
  return { node, cli };
}

describe('embedded event feed', () => {
  it("SQLite's external write mark moves on another connection's commit, not on this connection's own", async () => {
    const { node, cli } = twoConnections();
    const start = node.externalWriteMark();
    await node.submit({ id: 'own', kind: 'k' });
    expect(node.externalWriteMark()).toBe(start);
    await cli.submit({ id: 'other', kind: 'k' });
    const moved = node.externalWriteMark();
    expect(moved).not.toBe(start);
    expect(node.externalWriteMark()).toBe(moved);
  });

  it("re-reads the newest tasks only after another process wrote, and announces that process's tasks", async () => {
    const { node, cli } = twoConnections();
    const log = recordingLogger();
    const bus = new InProcessBus({ log });
    cleanup.push(() => bus.close());
    let queries = 0;
    const store = { query: (q?: Parameters<typeof node.query>[0]) => (queries++, node.query(q)), externalWriteMark: () => node.externalWriteMark() };
    const feed = new EventFeed({ bus, subjects: subjects('reeve'), store, followStoreMs: 20, log });
    const seen: FeedEvent[] = [];
    cleanup.push(feed.subscribe((e) => seen.push(e)));
    await expect.poll(() => queries).toBe(1); // the first round seeds what is known
    // Only this process writes (its own events come over the bus): nothing to re-read.
    for (let i = 0; i < 5; i++) await node.submit({ id: `own-${i}`, kind: 'k' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(queries).toBe(1);
    await cli.submit({ id: 'from-the-cli', kind: 'k' });
    await expect.poll(() => seen.map((e) => (e.data as { id: string }).id)).toContain('from-the-cli');
    expect(queries).toBe(2);
    expect(seen.find((e) => (e.data as { id: string }).id === 'from-the-cli')).toMatchObject({ type: 'task', data: { state: 'queued', kind: 'k' } });
  });

  it('announces each task state once while it is remembered (the newest 10,000 to 20,000 tasks), and again once forgotten', async () => {
    const { node } = twoConnections();
    const bus = new InProcessBus({ log: recordingLogger() });
    cleanup.push(() => bus.close());
    const s = subjects('reeve');
    const feed = new EventFeed({ bus, subjects: s, store: node, log: recordingLogger() });
    const seen: string[] = [];
    cleanup.push(feed.subscribe((e) => seen.push(`${(e.data as { id: string }).id} ${(e.data as { state: string }).state}`)));
    const publish = async (ids: string[], state: string) => {
      for (const id of ids) bus.publish(s.taskEvent(id), { id, state });
      await bus.flush();
    };
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `t-${from + i}`);
    await publish(range(0, 15_000), 'queued');
    expect(seen).toHaveLength(15_000);
    // t-0 is in the older half of what is remembered, t-14999 in the newer: neither is news.
    await publish(['t-0', 't-14999'], 'queued');
    expect(seen).toHaveLength(15_000);
    await publish(['t-0'], 'running');
    expect(seen.at(-1)).toBe('t-0 running');
    // 20,000 newer tasks later, t-1's state is forgotten and announced again if it comes again.
    await publish(range(15_000, 35_000), 'queued');
    seen.length = 0;
    await publish(['t-1', 't-34999'], 'queued');
    expect(seen).toEqual(['t-1 queued']);
  });

  it('hands a batch listener the events of a window at once: told once that there is something, then every event in order, each task state once', async () => {
    const { node } = twoConnections();
    const bus = new InProcessBus({ log: recordingLogger() });
    cleanup.push(() => bus.close());
    const s = subjects('reeve');
    const feed = new EventFeed({ bus, subjects: s, store: node, log: recordingLogger() });
    let ready = 0;
    const batch = feed.subscribeBatched(() => ready++);
    cleanup.push(() => batch.unsubscribe());
    expect(feed.listeners).toBe(1);
    const heartbeat = { id: 'n1', incarnation: 'i1', state: 'up', capacity: 4, running: 0, at: 1, kinds: ['k'] };
    bus.publish(s.taskEvent('a'), { id: 'a', kind: 'k', state: 'queued' });
    bus.publish(s.heartbeat('n1'), heartbeat);
    bus.publish(s.taskEvent('a'), { id: 'a', kind: 'k', state: 'queued' }); // not news
    bus.publish(s.taskEvent('x'), { id: 'bad id!', state: 'queued' }); // refused
    bus.publish(s.taskEvent('b'), { id: 'b', kind: 'k', state: 'nonsense' }); // refused
    bus.publish(s.heartbeat('n2'), { id: 'n2' }); // not a heartbeat
    bus.publish(s.taskEvent('a'), { id: 'a', kind: 'k', state: 'running' });
    await bus.flush();
    expect(ready).toBe(1);
    const events = batch.take();
    expect(events.map((e) => `${e.type} ${(e.data as { id: string }).id}`)).toEqual(['task a', 'node n1', 'task a']);
    expect(events[0]!.json).toBe('{"id":"a","kind":"k","state":"queued"}');
    expect(events[1]!.data).toMatchObject(heartbeat);
    expect(batch.take()).toEqual([]);
    // The next message is a new window: told again.
    bus.publish(s.taskEvent('c'), { id: 'c', kind: 'k', state: 'queued' });
    await bus.flush();
    expect(ready).toBe(2);
    expect(batch.take().map((e) => (e.data as { id: string }).id)).toEqual(['c']);
  });

  it('gives a per-event listener and a batch listener the same events, each task state announced once', async () => {
    const { node } = twoConnections();
    const bus = new InProcessBus({ log: recordingLogger() });
    cleanup.push(() => bus.close());
    const s = subjects('reeve');
    const feed = new EventFeed({ bus, subjects: s, store: node, log: recordingLogger() });
    const seen: string[] = [];
    cleanup.push(feed.subscribe((e) => seen.push((e.data as { state: string }).state)));
    let ready = 0;
    const batch = feed.subscribeBatched(() => ready++);
    cleanup.push(() => batch.unsubscribe());
    for (const state of ['queued', 'queued', 'running', 'succeeded']) bus.publish(s.taskEvent('a'), { id: 'a', kind: 'k', state });
    await bus.flush();
    expect(seen).toEqual(['queued', 'running', 'succeeded']);
    expect(ready).toBe(1);
    expect(batch.take().map((e) => (e.data as { state: string }).state)).toEqual(seen);
    batch.unsubscribe();
    expect(feed.listeners).toBe(1);
  });
});
