import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StoreConflictError } from '../../src/errors.ts';
import type { BreakerRecord, PreflightRecord } from '../../src/ports/gate-store.ts';
import type { NodeInfo } from '../../src/ports/node-registry.ts';
import type { ReeveStore } from '../../src/ports/reeve-store.ts';
import { FakeClock } from '../support/fake-clock.ts';

/** A backend's whole store (tasks, gates, nodes), more connections to the same data, and cleanup. */
export interface ReeveHarness {
  store: ReeveStore;
  /** Another connection (another process's or node's view) onto the same data. */
  openPeer(): Promise<ReeveStore>;
  dispose(): Promise<void>;
}

export type OpenReeveHarness = (clock: FakeClock) => Promise<ReeveHarness>;

type BreakerWrite = Omit<BreakerRecord, 'revision' | 'updatedAt'>;

const open30s = (now: number): BreakerWrite => ({
  key: 'anthropic',
  state: 'open',
  openUntil: now + 30_000,
  snapshot: { value: 'open', context: { failures: 3, pauseMs: 30_000 } },
});
const halfOpen: BreakerWrite = { key: 'anthropic', state: 'halfOpen', snapshot: { value: 'halfOpen', context: { probe: 't1' } } };

const node = (id: string, incarnation: string, over: Partial<NodeInfo> = {}): NodeInfo => ({
  id,
  incarnation,
  state: 'up',
  capacity: 8,
  running: 0,
  startedAt: 1_000,
  lastSeenAt: 2_000,
  pid: 4242,
  host: 'box-1',
  ...over,
});

/**
 * Polls until `ok` holds (or 5 s pass, then returns the last value for the assertion to
 * report): another connection's write reaches a KV peer within the propagation delay.
 */
async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > deadline) return value;
    await sleep(20);
  }
}

/**
 * The one GateStore + NodeRegistry suite (breakers with compare-and-set, preflight results,
 * node beacons): every adapter runs it unchanged, written against the ports only.
 */
export function describeGateStore(name: string, open: OpenReeveHarness): void {
  describe(`GateStore and NodeRegistry conformance: ${name}`, () => {
    let clock: FakeClock;
    let h: ReeveHarness;
    let store: ReeveStore;
    const peers: ReeveStore[] = [];

    beforeEach(async () => {
      clock = new FakeClock();
      h = await open(clock);
      store = h.store;
    });
    afterEach(async () => {
      for (const p of peers.splice(0)) await p.close();
      await h.dispose();
    });

    async function peer(): Promise<ReeveStore> {
      const p = await h.openPeer();
      peers.push(p);
      return p;
    }

    it('starts empty', async () => {
      expect(await store.listBreakers()).toEqual([]);
      expect(await store.listPreflight()).toEqual([]);
      expect(await store.listNodes()).toEqual([]);
    });

    describe('breakers', () => {
      it('creates a breaker with expected revision 0 and lists its state, openUntil, snapshot and revision', async () => {
        const revision = await store.putBreaker(open30s(clock.now()), 0);
        expect(revision).toBeGreaterThan(0);
        expect(await store.listBreakers()).toEqual([{ ...open30s(clock.now()), revision, updatedAt: clock.now() }]);
      });

      it('updates on the current revision and returns a newer one; a cleared openUntil is gone', async () => {
        const first = await store.putBreaker(open30s(clock.now()), 0);
        clock.advance(30_000);
        const second = await store.putBreaker(halfOpen, first);
        expect(second).toBeGreaterThan(first);
        const [record] = await store.listBreakers();
        expect(record).toEqual({ ...halfOpen, revision: second, updatedAt: clock.now() });
        expect(record).not.toHaveProperty('openUntil');
        const third = await store.putBreaker({ key: 'anthropic', state: 'closed', snapshot: { value: 'closed' } }, second);
        expect(third).toBeGreaterThan(second);
      });

      it('refuses to create a breaker that exists, with STORE_CONFLICT, and changes nothing', async () => {
        const first = await store.putBreaker(open30s(clock.now()), 0);
        const err = await store.putBreaker(halfOpen, 0).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(StoreConflictError);
        expect(err).toMatchObject({ code: 'STORE_CONFLICT', data: { expectedRevision: 0, actualRevision: first } });
        expect(await store.listBreakers()).toMatchObject([{ state: 'open', revision: first }]);
      });

      it('refuses a stale revision with STORE_CONFLICT naming the current one, and changes nothing', async () => {
        const first = await store.putBreaker(open30s(clock.now()), 0);
        const second = await store.putBreaker(halfOpen, first);
        const err = await store.putBreaker({ ...halfOpen, snapshot: { value: 'halfOpen', context: { probe: 'late' } } }, first).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'STORE_CONFLICT', data: { expectedRevision: first, actualRevision: second } });
        expect(await store.listBreakers()).toEqual([{ ...halfOpen, revision: second, updatedAt: clock.now() }]);
      });

      it('refuses an update of a breaker that does not exist', async () => {
        await expect(store.putBreaker(halfOpen, 7)).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
        expect(await store.listBreakers()).toEqual([]);
      });

      it('lets exactly one of two writers on separate connections win the same revision', async () => {
        const other = await peer();
        const creates = await Promise.allSettled([store.putBreaker(open30s(clock.now()), 0), other.putBreaker(open30s(clock.now()), 0)]);
        expect(creates.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        expect(creates.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'STORE_CONFLICT' } });
        const [current] = await store.listBreakers();
        const probes = ['t1', 't2'].map((probe) => ({ ...halfOpen, snapshot: { value: 'halfOpen', context: { probe } } }));
        const updates = await Promise.allSettled([store.putBreaker(probes[0]!, current!.revision), other.putBreaker(probes[1]!, current!.revision)]);
        const won = updates.findIndex((r) => r.status === 'fulfilled');
        expect(updates.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        expect(await store.listBreakers()).toMatchObject([{ snapshot: probes[won]!.snapshot }]);
      });

      it('lists every breaker sorted by key', async () => {
        for (const key of ['openai', 'anthropic', 'github']) await store.putBreaker({ ...halfOpen, key }, 0);
        expect((await store.listBreakers()).map((b) => b.key)).toEqual(['anthropic', 'github', 'openai']);
      });

      it('rejects a malformed breaker write naming the field, and writes nothing', async () => {
        await expect(store.putBreaker({ ...halfOpen, key: 'no spaces' }, 0)).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/key/) });
        await expect(store.putBreaker({ ...halfOpen, state: 'ajar' as never }, 0)).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/state/) });
        await expect(store.putBreaker(halfOpen, -1)).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/expectedRevision/) });
        expect(await store.listBreakers()).toEqual([]);
      });
    });

    describe('preflight', () => {
      it('keeps the last result per kind, overwriting the one before, listed by kind', async () => {
        const failing: PreflightRecord = { kind: 'claude', ok: false, reason: 'no API key', checkedAt: clock.now() };
        const build: PreflightRecord = { kind: 'build', ok: true, reason: 'ok', checkedAt: clock.now() };
        await store.putPreflight(failing);
        await store.putPreflight(build);
        expect(await store.listPreflight()).toEqual([build, failing]);
        const passing: PreflightRecord = { kind: 'claude', ok: true, reason: 'ok', checkedAt: clock.advance(60_000) };
        await store.putPreflight(passing);
        expect(await store.listPreflight()).toEqual([build, passing]);
      });

      it('rejects a bad kind naming the field, and writes nothing', async () => {
        await expect(store.putPreflight({ kind: 'a/b', ok: true, reason: 'ok', checkedAt: 1 })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/kind/) });
        expect(await store.listPreflight()).toEqual([]);
      });
    });

    describe('nodes', () => {
      it('keeps one record per node id: a newer incarnation replaces the older one', async () => {
        await store.recordNode(node('n-a', 'inc1', { running: 3 }));
        await store.recordNode(node('n-b', 'inc1', { host: 'box-2' }));
        const restarted = node('n-a', 'inc2', { startedAt: 5_000, lastSeenAt: 5_000 });
        await store.recordNode(restarted);
        expect(await store.listNodes()).toEqual([restarted, node('n-b', 'inc1', { host: 'box-2' })]);
      });

      it('drops a late beacon of an incarnation that started before the recorded one', async () => {
        const current = node('n-a', 'inc2', { startedAt: 5_000, lastSeenAt: 6_000 });
        await store.recordNode(current);
        await store.recordNode(node('n-a', 'inc1', { startedAt: 1_000, lastSeenAt: 7_000 }));
        expect(await store.listNodes()).toEqual([current]);
        // Its own incarnation's beacons still update it.
        const later = node('n-a', 'inc2', { startedAt: 5_000, lastSeenAt: 8_000, state: 'draining' });
        await store.recordNode(later);
        expect(await store.listNodes()).toEqual([later]);
      });

      it('keeps the task counts a beacon carries, and forgets them when the next beacon has none', async () => {
        const counted = node('n-a', 'inc1', { taskCounts: { queued: 4, running: 2, succeeded: 10 } });
        await store.recordNode(counted);
        expect(await store.listNodes()).toEqual([counted]);
        const plain = node('n-a', 'inc1', { lastSeenAt: 9_000 });
        await store.recordNode(plain);
        expect(await store.listNodes()).toEqual([plain]);
        await expect(store.recordNode(node('n-a', 'inc1', { taskCounts: { done: 1 } as never }))).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/taskCounts/) });
      });

      it('updates a beacon in place', async () => {
        await store.recordNode(node('n-a', 'inc1'));
        const draining = node('n-a', 'inc1', { state: 'draining', running: 2, lastSeenAt: 9_000 });
        await store.recordNode(draining);
        expect(await store.listNodes()).toEqual([draining]);
      });

      it('rejects a malformed node record naming the field, and writes nothing', async () => {
        await expect(store.recordNode(node('bad id', 'inc1'))).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/id/) });
        await expect(store.recordNode(node('n-a', 'inc1', { state: 'dead' as never }))).rejects.toMatchObject({ code: 'INVALID_INPUT' });
        expect(await store.listNodes()).toEqual([]);
      });
    });

    it('shares breakers, preflight results and nodes between store instances', async () => {
      const other = await peer();
      const created = await store.putBreaker(open30s(clock.now()), 0);
      await store.putPreflight({ kind: 'claude', ok: false, reason: 'no API key', checkedAt: clock.now() });
      await store.recordNode(node('n-a', 'inc1'));

      const seen = await eventually(() => other.listBreakers(), (l) => l.length === 1);
      expect(seen).toEqual([{ ...open30s(clock.now()), revision: created, updatedAt: clock.now() }]);
      expect(await eventually(() => other.listPreflight(), (l) => l.length === 1)).toMatchObject([{ kind: 'claude', ok: false }]);
      expect(await eventually(() => other.listNodes(), (l) => l.length === 1)).toEqual([node('n-a', 'inc1')]);

      // The peer moves the breaker on the revision it read; the first instance sees that
      // revision, and its own write on the old one conflicts.
      const moved = await other.putBreaker(halfOpen, seen[0]!.revision);
      await other.recordNode(node('n-b', 'inc1'));
      await other.putPreflight({ kind: 'claude', ok: true, reason: 'ok', checkedAt: clock.now() });
      expect(await eventually(() => store.listBreakers(), (l) => l[0]?.revision === moved)).toMatchObject([{ state: 'halfOpen', revision: moved }]);
      await expect(store.putBreaker({ key: 'anthropic', state: 'closed', snapshot: {} }, created)).rejects.toMatchObject({ code: 'STORE_CONFLICT' });
      expect((await eventually(() => store.listNodes(), (l) => l.length === 2)).map((n) => n.id)).toEqual(['n-a', 'n-b']);
      expect(await eventually(() => store.listPreflight(), (l) => l[0]?.ok === true)).toMatchObject([{ kind: 'claude', ok: true }]);
    });
  });
}
