import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEAD_AFTER_MS, statusReport } from '../../src/views/status-report.ts';
import type { NodeInfo } from '../../src/ports/node-registry.ts';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { tempDir } from '../support/temp-dir.ts';

/**
 * Where `reeve status` takes its task counts from. The rules do not depend on the adapter, so
 * a real SQLite file stands in for the cluster's KV bucket (mode 'cluster' is passed in).
 */
const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const undo of cleanup.splice(0)) undo();
});

function store() {
  const dir = tempDir('reeve-status-');
  const s = openSqliteTaskStore({ path: join(dir.path, 'reeve.db') });
  cleanup.push(() => {
    void s.close();
    dir.remove();
  });
  return s;
}

const NOW = 1_000_000;
const beacon = (id: string, lastSeenAt: number, taskCounts?: NodeInfo['taskCounts']): NodeInfo => ({
  id,
  incarnation: `${id}-1`,
  state: 'up',
  capacity: 4,
  running: 0,
  startedAt: 1,
  lastSeenAt,
  pid: 1,
  host: 'h',
  ...(taskCounts ? { taskCounts } : {}),
});

describe('reeve status counts', () => {
  it('in cluster mode takes the counts of the live node seen last, not of a dead one, and says which', async () => {
    const s = store();
    await s.submit({ id: 'only-one', kind: 'k' });
    await s.recordNode(beacon('n-old', NOW - 500, { queued: 7 }));
    await s.recordNode(beacon('n-new', NOW - 100, { queued: 5, running: 2 }));
    await s.recordNode(beacon('n-dead', NOW - DEAD_AFTER_MS - 1, { queued: 99 }));
    await s.recordNode(beacon('n-quiet', NOW - 50)); // no counts (just started)
    const report = await statusReport(s, NOW, 'cluster');
    expect(report.counts).toEqual({ queued: 5, running: 2 });
    expect(report.countsFrom).toEqual({ node: 'n-new', at: NOW - 100 });
    expect(report.nodes.map((n) => [n.id, n.state])).toEqual([['n-dead', 'dead'], ['n-new', 'up'], ['n-old', 'up'], ['n-quiet', 'up']]);
  });

  it('shows a node that said it stopped as drained, not dead, at any age, and does not take its counts', async () => {
    const s = store();
    await s.submit({ id: 'a', kind: 'k' });
    await s.recordNode({ ...beacon('n-drained', NOW - 100, { queued: 99 }), state: 'stopped' });
    await s.recordNode({ ...beacon('n-long-gone', NOW - 10 * DEAD_AFTER_MS), state: 'stopped', running: 3 });
    await s.recordNode(beacon('n-vanished', NOW - DEAD_AFTER_MS - 1));
    await s.recordNode({ ...beacon('n-leaving', NOW - 10), state: 'draining' });
    const report = await statusReport(s, NOW, 'cluster');
    expect(report.nodes.map((n) => [n.id, n.state, n.running])).toEqual([
      ['n-drained', 'drained', 0],
      ['n-leaving', 'draining', 0],
      ['n-long-gone', 'drained', 0],
      ['n-vanished', 'dead', 0],
    ]);
    expect(report.counts).toEqual({ queued: 1 });
  });

  it('counts every task when no live node reported counts, when asked to be exact, and always in embedded mode', async () => {
    const s = store();
    await s.submit({ id: 'a', kind: 'k' });
    await s.submit({ id: 'b', kind: 'k' });
    await s.recordNode(beacon('n-dead', NOW - DEAD_AFTER_MS - 1, { queued: 99 }));
    const none = await statusReport(s, NOW, 'cluster');
    expect(none.counts).toEqual({ queued: 2 });
    expect(none.countsFrom).toBeUndefined();

    await s.recordNode(beacon('n-live', NOW, { queued: 40 }));
    expect((await statusReport(s, NOW, 'cluster')).counts).toEqual({ queued: 40 });
    const exact = await statusReport(s, NOW, 'cluster', { exact: true });
    expect(exact.counts).toEqual({ queued: 2 });
    expect(exact.countsFrom).toBeUndefined();
    expect((await statusReport(s, NOW, 'embedded')).counts).toEqual({ queued: 2 });
  });
});
