import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OutboxEntry } from '../../src/ports/outbox.ts';
import type { ReeveStore } from '../../src/ports/reeve-store.ts';
import { NOTIFY_EVENTS } from '../../src/protocol/notification.ts';
import { FakeClock } from '../support/fake-clock.ts';
import type { OpenReeveHarness, ReeveHarness } from './gate-store.suite.ts';

const A = 'node-a:1';
const B = 'node-b:1';
const TTL = 15_000;
const LEASE = 30_000;

/** Polls until `ok` holds or 5 s pass (another connection's write reaches a KV peer within the watch latency). */
async function eventually<T>(read: () => Promise<T>, ok: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > deadline) return value;
    await sleep(20);
  }
}

/**
 * The notification outbox (OutboxStore): which writes record which events, in the same write as
 * the change, and how entries are claimed, retried, given up and counted. Every adapter runs it.
 */
export function describeOutbox(name: string, open: OpenReeveHarness): void {
  describe(`OutboxStore conformance: ${name}`, () => {
    let clock: FakeClock;
    let h: ReeveHarness;
    let store: ReeveStore;
    const peers: ReeveStore[] = [];

    beforeEach(async () => {
      clock = new FakeClock();
      h = await open(clock);
      store = h.store;
      store.recordNotifications({ node: 'n1', events: NOTIFY_EVENTS });
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

    const claim = (s: ReeveStore = store, owner = A, limit = 10) => s.claimNotifications({ owner, limit, leaseTtlMs: LEASE });

    /** A submitted task claimed by A and moved from running to `to` (with an error when it fails). */
    async function runTo(id: string, to: 'failed' | 'succeeded' | 'waiting', step?: string) {
      await store.submit({ id, kind: 'echo' });
      const [task] = await store.claim({ owner: A, limit: 1, leaseTtlMs: TTL });
      const error = to === 'failed' ? { class: 'permanent' as const, code: 'EXIT_1', message: 'exit 1' } : undefined;
      return store.transition({ id, revision: task!.revision, owner: A, to, reason: 'test', attempts: { transient: 0, permanent: to === 'failed' ? 2 : 0, crashes: 0 }, ...(error ? { error } : {}), ...(step ? { step } : {}) });
    }

    it('records nothing while no event is asked for', async () => {
      store.recordNotifications({ node: 'n1', events: [] });
      await runTo('t1', 'failed');
      expect(await claim()).toEqual([]);
      expect(await store.notificationCounts()).toEqual({ pending: 0, failed: 0 });
    });

    it('records task.failed with the task facts and the recording node, in the write that fails the task', async () => {
      await runTo('t1', 'failed', 'develop');
      const [entry, more] = await claim();
      expect(more).toBeUndefined();
      expect(entry).toMatchObject({ state: 'pending', attempts: 0, delivered: [], owner: A, leaseExpiresAt: clock.now() + LEASE });
      expect(entry!.notification).toEqual({
        id: entry!.id,
        event: 'task.failed',
        at: clock.now(),
        node: 'n1',
        task: { id: 't1', kind: 'echo', state: 'failed', step: 'develop', attempts: { transient: 0, permanent: 2, crashes: 0 }, error: { class: 'permanent', code: 'EXIT_1', message: 'exit 1' } },
      });
    });

    it('records task.waiting and task.succeeded, and only the events asked for', async () => {
      store.recordNotifications({ node: 'n1', events: ['task.waiting'] });
      await runTo('w1', 'waiting');
      await runTo('s1', 'succeeded');
      const entries = await claim();
      expect(entries.map((e) => [e.notification.event, e.notification.task?.id])).toEqual([['task.waiting', 'w1']]);
      store.recordNotifications({ node: 'n1', events: ['task.succeeded'] });
      await runTo('s2', 'succeeded');
      expect((await claim()).map((e) => e.notification.task?.id)).toEqual(['s2']);
    });

    it('records nothing for a write that stays in its state', async () => {
      await store.submit({ id: 't1', kind: 'echo' });
      const [task] = await store.claim({ owner: A, limit: 1, leaseTtlMs: TTL });
      await store.transition({ id: 't1', revision: task!.revision, owner: A, to: 'running', reason: 'progress', snapshot: { n: 1 } });
      expect(await claim()).toEqual([]);
    });

    it('records task.quarantined when a lost lease reaches the crash limit', async () => {
      await store.submit({ id: 'p1', kind: 'echo' });
      const [task] = await store.claim({ owner: A, limit: 1, leaseTtlMs: TTL });
      clock.advance(TTL);
      await store.requeueStale('p1', task!.revision, { crashLimit: 1 });
      const [entry] = await claim();
      expect(entry?.notification).toMatchObject({ event: 'task.quarantined', task: { id: 'p1', state: 'quarantined', attempts: { crashes: 1 }, error: { class: 'lost-lease' } } });
    });

    it('leases an entry to one claimer; another gets it only once the lease has expired', async () => {
      await runTo('t1', 'failed');
      const other = await peer();
      const [mine] = await claim(store, A);
      expect(mine).toBeDefined();
      expect(await claim(other, B)).toEqual([]);
      clock.advance(LEASE);
      const [theirs] = await eventually(() => claim(other, B), (e) => e.length > 0);
      expect(theirs).toMatchObject({ id: mine!.id, owner: B });
      await expect(store.settleNotification({ id: mine!.id, owner: A, revision: mine!.revision, outcome: 'delivered' })).rejects.toMatchObject({ code: 'LEASE_LOST' });
    });

    it('lets a restarted node take back at once what its earlier incarnation held, lease notwithstanding', async () => {
      await runTo('t1', 'failed');
      const [held] = await claim(store, 'node-a:old');
      expect(await claim(store, B)).toEqual([]);
      expect(await store.claimNotifications({ owner: 'node-b:2', limit: 10, leaseTtlMs: LEASE, deadOwnerPrefix: 'node-b:' })).toEqual([]);
      const [back] = await store.claimNotifications({ owner: 'node-a:new', limit: 10, leaseTtlMs: LEASE, deadOwnerPrefix: 'node-a:' });
      expect(back).toMatchObject({ id: held!.id, owner: 'node-a:new' });
      expect(await store.claimNotifications({ owner: 'node-a:new', limit: 10, leaseTtlMs: LEASE, deadOwnerPrefix: 'node-a:' })).toEqual([]);
    });

    it('forgets a delivered entry', async () => {
      await runTo('t1', 'failed');
      const [entry] = await claim();
      await store.settleNotification({ id: entry!.id, owner: A, revision: entry!.revision, outcome: 'delivered' });
      clock.advance(LEASE);
      expect(await claim()).toEqual([]);
      expect(await store.notificationCounts()).toEqual({ pending: 0, failed: 0 });
    });

    it('retries an entry at nextAttemptAt with its attempts, delivered sinks and error, and counts it pending', async () => {
      await runTo('t1', 'failed');
      const [entry] = await claim();
      await store.settleNotification({ id: entry!.id, owner: A, revision: entry!.revision, outcome: 'retry', delivered: ['sink-1'], nextAttemptAt: clock.now() + 1000, error: 'HTTP 503' });
      expect(await claim()).toEqual([]);
      expect(await store.notificationCounts()).toEqual({ pending: 1, failed: 0, lastError: { id: entry!.id, event: 'task.failed', at: clock.now(), message: 'HTTP 503' } });
      clock.advance(1000);
      const [again] = await claim();
      expect(again).toMatchObject({ id: entry!.id, attempts: 1, delivered: ['sink-1'], lastError: 'HTTP 503', owner: A });
      expect(again!.notification).toEqual(entry!.notification);
    });

    it('keeps a given-up entry as failed, never claims it again, and purges it', async () => {
      await runTo('t1', 'failed');
      const [entry] = await claim();
      await store.settleNotification({ id: entry!.id, owner: A, revision: entry!.revision, outcome: 'failed', delivered: [], error: 'gave up: HTTP 500' });
      clock.advance(LEASE);
      expect(await claim()).toEqual([]);
      expect(await store.notificationCounts()).toMatchObject({ pending: 0, failed: 1, lastError: { message: 'gave up: HTTP 500' } });
      expect(await store.purgeNotifications(clock.now() - 1)).toBe(1);
      expect(await store.notificationCounts()).toEqual({ pending: 0, failed: 0 });
    });

    it('refuses a settle with a revision other than the claim returned', async () => {
      await runTo('t1', 'failed');
      const [entry] = await claim();
      await expect(store.settleNotification({ id: entry!.id, owner: A, revision: entry!.revision + 1, outcome: 'delivered' })).rejects.toMatchObject({ code: 'LEASE_LOST' });
    });

    it('records breaker.opened once per outage and breaker.closed when it ends', async () => {
      const r1 = await store.putBreaker({ key: 'api', state: 'closed', snapshot: { failures: 1 } }, 0);
      const r2 = await store.putBreaker({ key: 'api', state: 'open', openUntil: clock.now() + 5000, snapshot: {} }, r1);
      const r3 = await store.putBreaker({ key: 'api', state: 'halfOpen', snapshot: {} }, r2);
      const r4 = await store.putBreaker({ key: 'api', state: 'open', openUntil: clock.now() + 9000, snapshot: {} }, r3);
      const r5 = await store.putBreaker({ key: 'api', state: 'halfOpen', snapshot: {} }, r4);
      await store.putBreaker({ key: 'api', state: 'closed', snapshot: {} }, r5);
      const entries = await claim();
      expect(entries.map((e) => e.notification.breaker)).toEqual([
        { key: 'api', state: 'open', openUntil: clock.now() + 5000 },
        { key: 'api', state: 'closed' },
      ]);
      expect(entries.map((e) => e.notification.event)).toEqual(['breaker.opened', 'breaker.closed']);
      // The breaker's own record is as written.
      expect(await store.listBreakers()).toMatchObject([{ key: 'api', state: 'closed' }]);
    });

    it('records a dead letter with its summary', async () => {
      const letter = await store.addDeadLetter({ source: 'cli', code: 'INVALID_INPUT', reason: 'kind: missing', id: 'x1', payload: '{"id":"x1"}' });
      const [entry] = await claim();
      expect(entry?.notification).toMatchObject({ event: 'deadletter', deadLetter: { seq: letter.seq, source: 'cli', code: 'INVALID_INPUT', reason: 'kind: missing', id: 'x1', excerpt: letter.excerpt } });
    });

    it('marks a silent node dead once, with one node.dead, and leaves stopped or fresh nodes alone', async () => {
      const base = { capacity: 8, running: 0, startedAt: 1000, pid: 1, host: 'box' };
      await store.recordNode({ id: 'n2', incarnation: 'i1', state: 'up', lastSeenAt: clock.now(), ...base });
      await store.recordNode({ id: 'n3', incarnation: 'i1', state: 'stopped', lastSeenAt: clock.now(), ...base });
      expect(await store.markNodeDead({ id: 'n2', incarnation: 'i1', silentSince: clock.now(), detectedBy: 'n1' })).toBe(false);
      clock.advance(5000);
      const silentSince = clock.now() - 3000;
      expect(await store.markNodeDead({ id: 'n2', incarnation: 'i0', silentSince, detectedBy: 'n1' })).toBe(false);
      expect(await store.markNodeDead({ id: 'n3', incarnation: 'i1', silentSince, detectedBy: 'n1' })).toBe(false);
      const other = await peer();
      const marks = await Promise.all([store.markNodeDead({ id: 'n2', incarnation: 'i1', silentSince, detectedBy: 'n1' }), other.markNodeDead({ id: 'n2', incarnation: 'i1', silentSince, detectedBy: 'n9' })]);
      expect(marks.filter(Boolean)).toHaveLength(1);
      expect((await store.listNodes()).find((n) => n.id === 'n2')?.state).toBe('dead');
      const entries = await claim();
      expect(entries.map((e) => e.notification)).toMatchObject([{ event: 'node.dead', node: 'n2', deadNode: { incarnation: 'i1', host: 'box', lastSeenAt: silentSince - 2000 } }]);
    });

    it('lets a store on another connection claim what this one recorded', async () => {
      await runTo('t1', 'succeeded');
      const other = await peer();
      other.recordNotifications({ node: 'n2', events: NOTIFY_EVENTS });
      const entries = await eventually(() => claim(other, B), (e: OutboxEntry[]) => e.length > 0);
      expect(entries.map((e) => [e.notification.event, e.notification.node, e.owner])).toEqual([['task.succeeded', 'n1', B]]);
      expect(await claim(store, A)).toEqual([]);
    });
  });
}
