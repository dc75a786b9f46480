import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { fixtureAgent, startTestNode, waitForState, type TestNode } from '../support/test-node.ts';

describe('fencing', () => {
  let t: TestNode | undefined;
  afterEach(async () => {
    await t?.dispose();
    t = undefined;
  });

  it('stops the run of a node whose lease was taken over, and that node writes nothing more', async () => {
    t = await startTestNode({ node: { leaseTtlMs: 600 }, agents: { wait: { module: fixtureAgent('waits-for-abort.ts') } } });
    const id = (await t.node.store.submit({ kind: 'wait' })).task.id;
    const running = await waitForState(t.node, id, ['running']);
    // Another node, whose clock says the lease is long expired, sweeps and takes the task.
    const other = openSqliteTaskStore({ path: t.config.store.path, clock: new FakeClock(Date.now() + 60_000) });
    try {
      const [stale] = await other.listStale();
      expect(stale?.id).toBe(id);
      await other.requeueStale(id, stale!.revision, { crashLimit: 5 });
      const [taken] = await other.claim({ owner: 'intruder:1', limit: 1, leaseTtlMs: 600_000 });
      expect(taken?.id).toBe(id);
      // The original node's next renewal is refused: it kills its run and lets go.
      for (let i = 0; i < 100 && t.node.dispatcher.inFlight.has(id); i++) await new Promise((r) => setTimeout(r, 20));
      expect(t.node.dispatcher.inFlight.has(id)).toBe(false);
      const task = await other.get(id);
      expect(task).toMatchObject({ state: 'running', owner: 'intruder:1', revision: taken!.revision });
      expect(t.log.lines.some((l) => l.msg === 'lease lost; stopping the run')).toBe(true);
      expect(running.owner).toBe(t.node.owner);
    } finally {
      await other.close();
    }
  });
});
