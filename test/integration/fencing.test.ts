import { connect } from '@nats-io/transport-node';
import { afterEach, describe, expect, it } from 'vitest';
import type { ReeveStore } from '../../src/ports/reeve-store.ts';
import { openKvTaskStore } from '../../src/store/kv/kv-task-store.ts';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { natsServerForSuite } from '../support/nats-server.ts';
import { fixtureAgent, startTestNode, waitForState, type TestNode } from '../support/test-node.ts';

/**
 * Fencing with a real node on each backend: another node whose clock says the lease is long
 * expired (a partitioned owner that did not notice) takes the task over; the old owner's next
 * write fails, it kills its run and writes nothing more.
 */
const server = natsServerForSuite();

interface Backend {
  name: string;
  config(): Record<string, unknown>;
  /** A second store on the same data, with its own clock. */
  intruder(t: TestNode, clock: FakeClock): Promise<{ store: ReeveStore; close(): Promise<void> }>;
}

const backends: Backend[] = [
  {
    name: 'sqlite',
    config: () => ({}),
    intruder: async (t, clock) => {
      const store = openSqliteTaskStore({ path: t.config.store.path, clock });
      return { store, close: () => store.close() };
    },
  },
  {
    name: 'nats-kv',
    config: () => ({ store: { type: 'nats', bucket: 'fencing-tasks' }, nats: { servers: [server.url], prefix: 'fence', stream: 'FENCE_SUBMIT' } }),
    intruder: async (_t, clock) => {
      const nc = await connect({ servers: server.url, noAsyncTraces: true });
      const store = await openKvTaskStore({ nc, bucket: 'fencing-tasks', clock });
      return { store, close: async () => (await store.close(), await nc.close()) };
    },
  },
];

describe.each(backends)('fencing on $name', (backend) => {
  let t: TestNode | undefined;
  afterEach(async () => {
    await t?.dispose();
    t = undefined;
  });

  it('stops the run of a node whose lease was taken over, and that node writes nothing more', async () => {
    t = await startTestNode({ ...backend.config(), node: { leaseTtlMs: 600 }, agents: { wait: { module: fixtureAgent('waits-for-abort.ts') } } } as Parameters<typeof startTestNode>[0]);
    const id = (await t.node.store.submit({ kind: 'wait' })).task.id;
    const running = await waitForState(t.node, id, ['running']);
    const other = await backend.intruder(t, new FakeClock(Date.now() + 60_000));
    try {
      // The owner keeps renewing meanwhile: a renewal between our read and our write is a lost
      // compare-and-set (STORE_CONFLICT), so read again and retry.
      for (let attempt = 0; ; attempt++) {
        const [stale] = (await other.store.listStale()).filter((s) => s.id === id);
        expect(stale?.id).toBe(id);
        const requeued = await other.store.requeueStale(id, stale!.revision, { crashLimit: 5 }).catch((err: { code?: string }) => {
          if (err.code !== 'STORE_CONFLICT' || attempt > 20) throw err;
          return undefined;
        });
        if (requeued) break;
      }
      const [taken] = await other.store.claim({ owner: 'intruder:1', limit: 1, leaseTtlMs: 600_000 });
      expect(taken?.id).toBe(id);
      // The original node's next renewal is refused: it kills its run and lets go.
      for (let i = 0; i < 100 && t.node.dispatcher.inFlight.has(id); i++) await new Promise((r) => setTimeout(r, 20));
      expect(t.node.dispatcher.inFlight.has(id)).toBe(false);
      const task = await other.store.get(id);
      expect(task).toMatchObject({ state: 'running', owner: 'intruder:1', revision: taken!.revision });
      expect(t.log.lines.some((l) => l.msg === 'lease lost; stopping the run')).toBe(true);
      expect(running.owner).toBe(t.node.owner);
    } finally {
      await other.close();
    }
  });
});
