import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { BreakerBoard } from '../../src/actors/breaker-board.ts';
import { silentLogger } from '../../src/ports/logger.ts';
import type { ReeveStore } from '../../src/ports/reeve-store.ts';
import { openKvTaskStore } from '../../src/store/kv/kv-task-store.ts';
import { withWriteTokens } from '../../src/store/kv/serial-cas.ts';
import { isCasConflict } from '../../src/store/kv/task-keys.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { startNatsServer, type NatsServer } from '../support/nats-server.ts';

/**
 * The KV task store against a real nats-server 2.9.10: the client features the adapter relies
 * on (task keys, and the gate and node keys beside them), and behaviour across connections
 * that the conformance suite only touches.
 */
let server: NatsServer;
const connections: NatsConnection[] = [];
const stores: ReeveStore[] = [];

beforeAll(async () => {
  server = await startNatsServer();
}, 30_000);

afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const nc of connections.splice(0)) await nc.close();
});

afterAll(async () => {
  await server?.stop();
});

async function conn(): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url });
  connections.push(nc);
  return nc;
}

async function open(bucket: string, clock: FakeClock): Promise<ReeveStore> {
  const store = await openKvTaskStore({ nc: await conn(), bucket, clock });
  stores.push(store);
  return store;
}

async function eventually<T>(fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (ok(value) || Date.now() > deadline) return value;
    await sleep(20);
  }
}

describe('client features on nats-server 2.9.10', () => {
  it('reports a lost compare-and-set on create and update as a CAS conflict', async () => {
    const kv = await new Kvm(await conn()).create(`f-${randomUUID()}`, { history: 1, allow_direct: false });
    const first = await kv.create('t.a', 'one');
    expect(await kv.create('t.a', 'two').catch((e: unknown) => isCasConflict(e))).toBe(true);
    const second = await kv.update('t.a', 'two', first);
    expect(second).toBeGreaterThan(first);
    expect(await kv.update('t.a', 'three', first).catch((e: unknown) => isCasConflict(e))).toBe(true);
    expect((await kv.get('t.a'))?.string()).toBe('two');
  });

  it('answers a last-by-subject get with a wildcard, and null when nothing matches', async () => {
    const nc = await conn();
    const bucket = `f-${randomUUID()}`;
    const kv = await new Kvm(nc).create(bucket, { history: 1 });
    const jsm = await jetstreamManager(nc);
    const last = () => jsm.streams.getMessage(`KV_${bucket}`, { last_by_subj: `$KV.${bucket}.t.>` });
    expect(await last()).toBeNull();
    await kv.put('t.a', '1');
    const b = await kv.put('t.b', '2');
    await kv.put('a.b', 'annotations are not tasks');
    expect((await last())?.seq).toBe(b);
  });

  it.each([1, 5])('replays a watch on t.> in revision order, then updates (history %i)', async (history) => {
    const kv = await new Kvm(await conn()).create(`f-${randomUUID()}`, { history });
    for (const k of ['t.a', 't.b', 't.c', 't.a', 't.d', 't.b', 'x.z', 't.c']) await kv.put(k, k);
    const watch = await kv.watch({ key: 't.>' });
    const seen: number[] = [];
    for await (const e of watch) {
      seen.push(e.revision);
      if (seen.length === 4) await kv.put('t.e', 'e');
      if (seen.length === 5) break;
    }
    expect(seen).toEqual([4, 5, 6, 8, 9]);
  });

  it('indexes the tasks already in a bucket when a store opens on it', async () => {
    const bucket = `tasks-${randomUUID()}`;
    const clock = new FakeClock();
    const writer = await open(bucket, clock);
    for (let i = 0; i < 20; i++) await writer.submit({ id: `t${i}`, kind: 'k', priority: i % 3 });
    await writer.claim({ owner: 'n:1', limit: 5, leaseTtlMs: 1000 });
    const reader = await open(bucket, clock);
    expect(await reader.countByState()).toEqual({ queued: 15, running: 5 });
    expect((await reader.query({ limit: 3 })).map((t) => t.id)).toEqual(['t19', 't18', 't17']);
  });

  it('refuses a record over the server max_payload with STORE_UNAVAILABLE naming it, and writes nothing', async () => {
    const store = await open(`tasks-${randomUUID()}`, new FakeClock());
    const err = await store.submit({ id: 'big', kind: 'k', input: 'x'.repeat(1024 * 1024 - 20) }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect((err as Error).message).toMatch(/max_payload/);
    expect(await store.get('big')).toBeUndefined();
  });

  it('keeps a dead letter bigger than max_payload, cut to fit', async () => {
    const store = await open(`tasks-${randomUUID()}`, new FakeClock());
    await store.addDeadLetter({ source: 'nats:reeve.submit', code: 'INVALID_INPUT', reason: 'too big', payload: '\u0001'.repeat(1024 * 1024) });
    const [letter] = await store.listDeadLetters();
    expect(letter?.payload).toMatch(/truncated/);
  });
});

describe('gate and node keys on nats-server 2.9.10', () => {
  it('lists the keys under one prefix with a stream info subjects_filter, deleted keys included', async () => {
    const nc = await conn();
    const bucket = `f-${randomUUID()}`;
    const kv = await new Kvm(nc).create(bucket, { history: 5 });
    const jsm = await jetstreamManager(nc);
    const keys = async (prefix: string) => {
      const info = await jsm.streams.info(`KV_${bucket}`, { subjects_filter: `$KV.${bucket}.${prefix}>` });
      return Object.keys(info.state.subjects ?? {}).sort();
    };
    expect(await keys('b.')).toEqual([]);
    for (let i = 0; i < 3; i++) for (const k of ['b.x', 'b.y', 't.b', 'bb.x', 'n.a', 'pf.k']) await kv.put(k, String(i));
    await kv.delete('b.y');
    expect(await keys('b.')).toEqual([`$KV.${bucket}.b.x`, `$KV.${bucket}.b.y`]);
    expect((await kv.get('b.y'))?.operation).toBe('DEL');
    expect(await keys('n.')).toEqual([`$KV.${bucket}.n.a`]);
  });

  it('answers kv.keys with one filter, but leaves an ordered consumer on the server per call (why listings use stream info)', async () => {
    const nc = await conn();
    const bucket = `f-${randomUUID()}`;
    const kv = await new Kvm(nc).create(bucket, { history: 1 });
    const jsm = await jetstreamManager(nc);
    for (const k of ['b.x', 'b.y', 't.a', 'bb.z']) await kv.put(k, '1');
    await kv.delete('b.y');
    const listed: string[] = [];
    for await (const k of await kv.keys('b.>')) listed.push(k);
    expect(listed).toEqual(['b.x']);
    // The client creates it with a 5-minute inactive_threshold and does not delete it.
    expect((await jsm.streams.info(`KV_${bucket}`)).state.consumer_count).toBe(1);
  });

  it('keeps breakers, preflight results and nodes under b., pf. and n., out of the task index', async () => {
    const nc = await conn();
    const bucket = `tasks-${randomUUID()}`;
    const clock = new FakeClock();
    const writer = await open(bucket, clock);
    const revision = await writer.putBreaker({ key: 'anthropic', state: 'open', openUntil: 5, snapshot: { value: 'open' } }, 0);
    await writer.putPreflight({ kind: 'claude', ok: true, reason: 'ok', checkedAt: 1 });
    await writer.recordNode({ id: 'n-a', incarnation: 'i1', state: 'up', capacity: 1, running: 0, startedAt: 1, lastSeenAt: 1, pid: 1, host: 'h' });
    await writer.submit({ id: 'only-task', kind: 'k' });
    const kv = await new Kvm(nc).open(bucket);
    expect((await kv.get('b.anthropic'))?.revision).toBe(revision);
    expect((await kv.get('pf.claude'))?.json()).toMatchObject({ ok: true });
    expect((await kv.get('n.n-a'))?.json()).toMatchObject({ incarnation: 'i1' });
    const reader = await open(bucket, clock);
    expect(await reader.countByState()).toEqual({ queued: 1 });
    expect((await reader.query()).map((t) => t.id)).toEqual(['only-task']);
    expect((await reader.claim({ owner: 'r:1', limit: 10, leaseTtlMs: 1000 })).map((t) => t.id)).toEqual(['only-task']);
  });

  it('leaves out breakers, preflight results and nodes that are not Reeve records, but keeps records with extra fields', async () => {
    const nc = await conn();
    const bucket = `tasks-${randomUUID()}`;
    const store = await open(bucket, new FakeClock());
    const node = { id: 'n-a', incarnation: 'i1', state: 'up' as const, capacity: 1, running: 0, startedAt: 1, lastSeenAt: 1, pid: 1, host: 'h' };
    await store.recordNode(node);
    await store.putPreflight({ kind: 'claude', ok: true, reason: 'ok', checkedAt: 1 });
    await store.putBreaker({ key: 'good', state: 'closed', snapshot: {} }, 0);
    const kv = await new Kvm(nc).open(bucket);
    // Written by hand (or by something else): wrong types, missing fields, not an object.
    await kv.put('n.junk', JSON.stringify({ incarnation: 7, state: 'sleeping' }));
    await kv.put('n.list', JSON.stringify([1, 2]));
    await kv.put('n.counted', JSON.stringify({ ...node, id: undefined, incarnation: 'i9', taskCounts: { queued: 'many' }, addedLater: true }));
    await kv.put('pf.junk', JSON.stringify({ ok: 'yes' }));
    await kv.put('b.junk', JSON.stringify({ state: 'ajar', snapshot: {}, updatedAt: 1 }));
    await kv.put('b-names', JSON.stringify(['good', 'junk']));
    const nodes = await store.listNodes();
    expect(nodes.map((n) => n.id)).toEqual(['counted', 'n-a']);
    expect(nodes[0]).not.toHaveProperty('taskCounts'); // counts that are not counts are dropped, the node kept
    expect((await store.listPreflight()).map((p) => p.kind)).toEqual(['claude']);
    // A breaker key stays listed (as closed, no snapshot, at its revision), so it can be overwritten.
    const breakers = await store.listBreakers();
    expect(breakers.map((b) => [b.key, b.state, b.snapshot])).toEqual([['good', 'closed', {}], ['junk', 'closed', undefined]]);
    expect(breakers[1]!.revision).toBe((await kv.get('b.junk'))!.revision);
  });

  it('lets a breaker report overwrite a breaker key that is not a Reeve record', async () => {
    const nc = await conn();
    const bucket = `tasks-${randomUUID()}`;
    const store = await open(bucket, new FakeClock());
    const kv = await new Kvm(nc).open(bucket);
    await kv.put('b.provider', 'not json at all');
    const board = new BreakerBoard({ store, clock: { now: () => 1_000_000 }, log: silentLogger });
    await board.refresh();
    expect(board.gates()).toEqual({ blocked: [], probeable: [] });
    await board.report('provider', 't1', 'transient', { threshold: 1, pauseMs: 60_000, maxPauseMs: 60_000 });
    expect(board.gates().blocked).toEqual(['provider']);
    expect(await store.listBreakers()).toEqual([expect.objectContaining({ key: 'provider', state: 'open', snapshot: expect.objectContaining({ value: 'open' }) })]);
  });

  it('lists breakers, preflight results and nodes without leaving a consumer behind', async () => {
    const nc = await conn();
    const bucket = `tasks-${randomUUID()}`;
    const store = await open(bucket, new FakeClock());
    for (let i = 0; i < 20; i++) await store.putBreaker({ key: `k${i}`, state: 'closed', snapshot: { i } }, 0);
    const jsm = await jetstreamManager(nc);
    for (let i = 0; i < 10; i++) {
      expect(await store.listBreakers()).toHaveLength(20);
      expect(await store.listPreflight()).toEqual([]);
      expect(await store.listNodes()).toEqual([]);
    }
    expect((await jsm.streams.info(`KV_${bucket}`)).state.consumer_count).toBe(0);
  });
});

describe('across connections', () => {
  it('sees another connection’s submit, cancel request and completion through the watch', async () => {
    const bucket = `tasks-${randomUUID()}`;
    const clock = new FakeClock();
    const a = await open(bucket, clock);
    const b = await open(bucket, clock);
    expect(await a.countByState()).toEqual({});
    await b.submit({ id: 'x', kind: 'k' });
    const claimed = await eventually(() => a.claim({ owner: 'a:1', limit: 1, leaseTtlMs: 10_000 }), (r) => r.length === 1);
    expect(claimed.map((t) => t.id)).toEqual(['x']);
    await b.requestCancel('x', 'operator');
    expect(await eventually(() => a.listCancelRequests('a:1'), (r) => r.length === 1)).toEqual([{ id: 'x', reason: 'operator' }]);
    const fresh = await a.get('x');
    await a.transition({ id: 'x', revision: fresh!.revision, owner: 'a:1', to: 'cancelled', reason: 'cancelled on request' });
    expect(await eventually(() => b.countByState(), (c) => c.cancelled === 1)).toEqual({ cancelled: 1 });
  });

  it('fences the old owner after another node takes over its expired lease', async () => {
    const bucket = `tasks-${randomUUID()}`;
    const clock = new FakeClock();
    const a = await open(bucket, clock);
    const b = await open(bucket, clock);
    await a.submit({ id: 't', kind: 'k' });
    const [mine] = await a.claim({ owner: 'a:1', limit: 1, leaseTtlMs: 1000 });
    clock.advance(1000);
    const [stale] = await eventually(() => b.listStale(), (r) => r.length === 1);
    await b.requeueStale('t', stale!.revision, { crashLimit: 3 });
    const [taken] = await b.claim({ owner: 'b:1', limit: 1, leaseTtlMs: 1000 });
    expect(taken).toMatchObject({ id: 't', owner: 'b:1', attempts: { crashes: 1 } });
    await expect(a.transition({ id: 't', revision: mine!.revision, owner: 'a:1', to: 'succeeded', reason: 'late' })).rejects.toMatchObject({
      code: 'LEASE_LOST',
    });
  });

  it('refuses an owner write on a revision another connection has moved past (owner cache), and changes nothing', async () => {
    const bucket = `tasks-${randomUUID()}`;
    const clock = new FakeClock();
    const a = await open(bucket, clock);
    const b = await open(bucket, clock);
    await a.submit({ id: 't', kind: 'k' });
    const [mine] = await a.claim({ owner: 'a:1', limit: 1, leaseTtlMs: 10_000 });
    const flagged = await b.requestCancel('t', 'operator');
    await expect(a.heartbeat({ id: 't', owner: 'a:1', revision: mine!.revision, leaseTtlMs: 10_000 })).rejects.toMatchObject({
      code: 'STORE_CONFLICT',
    });
    await expect(a.transition({ id: 't', revision: mine!.revision, owner: 'a:1', to: 'succeeded', reason: 'x' })).rejects.toMatchObject({
      code: 'STORE_CONFLICT',
    });
    expect(await b.get('t')).toMatchObject({ state: 'running', revision: flagged.revision });
    const hb = await a.heartbeat({ id: 't', owner: 'a:1', revision: flagged.revision, leaseTtlMs: 10_000 });
    expect(hb.revision).toBeGreaterThan(flagged.revision);
  });

  it('claims the tasks its own instance created first within a priority, looking only a few claims down the queue', async () => {
    const bucket = `tasks-${randomUUID()}`;
    const clock = new FakeClock();
    const a = await open(bucket, clock);
    const b = await open(bucket, clock);
    for (let i = 1; i <= 3; i++) {
      await b.submit({ id: `b${i}`, kind: 'k' });
      await a.submit({ id: `a${i}`, kind: 'k' });
    }
    await b.submit({ id: 'urgent', kind: 'k', priority: 5 });
    await eventually(() => a.countByState(), (c) => c.queued === 7);
    const ids = async (store: ReeveStore, owner: string, limit: number) => (await store.claim({ owner, limit, leaseTtlMs: 60_000 })).map((t) => t.id);
    // Priority still comes first; within it a's own tasks go before b's older ones.
    expect(await ids(a, 'a:1', 2)).toEqual(['urgent', 'a1']);
    expect(await ids(b, 'b:1', 2)).toEqual(['b1', 'b2']);
    expect(await ids(a, 'a:1', 1)).toEqual(['a2']);
    expect(await ids(a, 'a:1', 1)).toEqual(['a3']);

    // A task of a's far down the queue does not jump it: the window is 4 claims long per task wanted.
    for (let i = 4; i <= 9; i++) await b.submit({ id: `b${i}`, kind: 'k' });
    await a.submit({ id: 'a4', kind: 'k' });
    await eventually(() => a.countByState(), (c) => c.queued === 8);
    expect(await ids(a, 'a:1', 1)).toEqual(['b3']);

    // Nothing is overtaken once it has been claimable for a second (a retry, a re-queued task,
    // one whose creator is gone): it ranks as a's own.
    const bucket2 = `tasks-${randomUUID()}`;
    const a2 = await open(bucket2, clock);
    const b2 = await open(bucket2, clock);
    await b2.submit({ id: 'waiting', kind: 'k' });
    clock.advance(999);
    await a2.submit({ id: 'fresh', kind: 'k' });
    await eventually(() => a2.countByState(), (c) => c.queued === 2);
    clock.advance(1);
    expect(await ids(a2, 'a:1', 1)).toEqual(['waiting']);
  });

  it('gives each of 400 tasks to exactly one of 4 connections claiming in parallel', async () => {
    const bucket = `tasks-${randomUUID()}`;
    const clock = new FakeClock();
    const s = await Promise.all(Array.from({ length: 4 }, () => open(bucket, clock)));
    for (let i = 0; i < 400; i += 50) {
      await Promise.all(Array.from({ length: 50 }, (_, j) => s[j % 4]!.submit({ id: `r${i + j}`, kind: 'k', priority: j % 4 })));
    }
    await sleep(100); // let every watch deliver the submits of the other connections
    const won: string[] = [];
    await Promise.all(
      s.flatMap((store, n) =>
        Array.from({ length: 6 }, async () => {
          for (;;) {
            const batch = await store.claim({ owner: `n${n}:1`, limit: 7, leaseTtlMs: 60_000 });
            if (batch.length === 0) return;
            won.push(...batch.map((t) => t.id));
            const done = await store.transitionMany(
              batch.map((t) => ({ id: t.id, revision: t.revision, owner: `n${n}:1`, to: 'succeeded' as const, reason: 'done' })),
            );
            expect(done.filter((d) => d instanceof Error)).toEqual([]);
          }
        }),
      ),
    );
    expect(won).toHaveLength(400);
    expect(new Set(won).size).toBe(400);
    for (const store of s) expect(await eventually(() => store.countByState(), (c) => c.succeeded === 400)).toEqual({ succeeded: 400 });
  });
});

describe('write tokens (serial-cas.ts) on purge', () => {
  it('a purge expecting a revision needs that revision’s token: one held by another writer makes it lose like a CAS', async () => {
    const nc = await conn();
    const kvm = new Kvm(nc);
    const bucket = `wt-${randomUUID().slice(0, 8)}`;
    const kv = await kvm.create(bucket, { history: 1 });
    const tokens = await kvm.create(`${bucket}-cas`, { history: 1 });
    const guarded = withWriteTokens(kv, tokens);
    const revision = await kv.put('t.x', 'v1');
    // Another writer won the token for moving t.x on from this revision.
    await tokens.create(`t.x.${revision}`, 'another-writer');
    const lost = await guarded.purge('t.x', { previousSeq: revision }).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(isCasConflict(lost)).toBe(true);
    expect((await kv.get('t.x'))?.operation).toBe('PUT');
    // A purge expecting the next revision takes its own token and goes through.
    const next = await kv.put('t.x', 'v2');
    await guarded.purge('t.x', { previousSeq: next });
    expect((await kv.get('t.x'))?.operation).toBe('PURGE');
    expect((await tokens.get(`t.x.${next}`))?.operation).toBe('PUT');
  });
});

describe('dead letter purge (KV)', () => {
  it('never moves its low-water mark past a number whose letter may still be written', async () => {
    const bucket = `dl-${randomUUID().slice(0, 8)}`;
    const clock = new FakeClock();
    const store = await open(bucket, clock);
    const kv = await new Kvm(await conn()).open(bucket);
    const letter = (reason: string) => ({ source: 'cli', code: 'INVALID_INPUT', reason, payload: '{}' });
    const first = await store.addDeadLetter(letter('one'));
    // A writer took number 2 and has not written its letter yet.
    const counter = await kv.get('dl-seq');
    await kv.update('dl-seq', JSON.stringify(first.seq + 1), counter!.revision);
    const third = await store.addDeadLetter(letter('three'));
    expect(third.seq).toBe(first.seq + 2);
    clock.advance(10);
    expect((await store.purgeDeadLetters({ before: clock.now() })).seqs).toEqual([first.seq, third.seq]);
    // The late letter lands, received before the cutoff: the next purge still finds it.
    await kv.put(`dl.${first.seq + 1}`, JSON.stringify({ ...letter('two'), excerpt: '{}', receivedAt: clock.now() - 5, seq: first.seq + 1 }));
    expect((await store.purgeDeadLetters({ before: clock.now() })).seqs).toEqual([first.seq + 1]);
    expect(await store.listDeadLetters()).toEqual([]);
  });
});
