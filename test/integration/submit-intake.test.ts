import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { connect, headers, nanos, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { publishSubmission } from '../../src/cluster/publish-submission.ts';
import { SubmitIntake, type PullResult, type SubmitIntakeOptions } from '../../src/cluster/submit-intake.ts';
import { handleMaxDeliveries } from '../../src/cluster/max-deliveries.ts';
import { ensureSubmitStream, INTAKE_CONSUMER, INTAKE_MAX_DELIVER } from '../../src/cluster/submit-stream.ts';
import { ErrorCode, ReeveError } from '../../src/errors.ts';
import type { TaskStore } from '../../src/ports/task-store.ts';
import { rejectedEventSchema } from '../../src/protocol/messages.ts';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { subjects as subjectsFor, type Subjects } from '../../src/protocol/subjects.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { startNatsServer, type NatsServer } from '../support/nats-server.ts';
import { recordingLogger } from '../support/recording-logger.ts';
import { tempDir } from '../support/temp-dir.ts';

/**
 * The submission path against a real nats-server 2.9.10: the work-queue stream and its shared
 * consumer, `publishSubmission`, and the intake moving messages into a real (SQLite) store.
 * The server allows 8 MB messages so that an over-limit input reaches the intake at all.
 */
let server: NatsServer;
const conf = tempDir('reeve-nats-conf-');
const cleanups: Array<() => Promise<void> | void> = [];

beforeAll(async () => {
  const file = join(conf.path, 'nats.conf');
  writeFileSync(file, 'max_payload: 8MB\n');
  server = await startNatsServer({ args: ['-c', file] });
}, 30_000);

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

afterAll(async () => {
  await server?.stop();
  conf.remove();
});

const KINDS = new Set(['echo', 'ship']);

interface Rig {
  nc: NatsConnection;
  jsm: JetStreamManager;
  subjects: Subjects;
  stream: string;
  store: TaskStore;
  events: Array<{ subject: string; data: unknown }>;
  intake: SubmitIntake;
}

async function conn(): Promise<NatsConnection> {
  const nc = await connect({ servers: server.url });
  cleanups.push(() => nc.close());
  return nc;
}

function names() {
  const tag = randomUUID().slice(0, 8);
  return { prefix: `p${tag}`, stream: `SUBMIT_${tag}` };
}

/** A stream, its consumer, an SQLite store and an intake, all fresh; `store` may be wrapped. */
async function rig(options: { wrap?: (store: TaskStore) => TaskStore; intake?: Partial<SubmitIntakeOptions>; maxDeliver?: number } = {}): Promise<Rig> {
  const nc = await conn();
  const jsm = await jetstreamManager(nc);
  const { prefix, stream } = names();
  const subjects = subjectsFor(prefix);
  const consumer = await ensureSubmitStream(jsm, { stream, subject: subjects.submit, replicas: 1, duplicateWindowMs: 60_000, ...(options.maxDeliver ? { maxDeliver: options.maxDeliver } : {}) });
  const sqlite = openSqliteTaskStore({ path: ':memory:', clock: new FakeClock() });
  cleanups.push(() => sqlite.close());
  const store = options.wrap ? options.wrap(sqlite) : sqlite;
  const events: Rig['events'] = [];
  const intake = new SubmitIntake({
    consumer,
    store,
    bus: { publish: (subject, data) => void events.push({ subject, data }) },
    subjects,
    knownKind: (kind) => KINDS.has(kind),
    knownKinds: () => KINDS,
    clock: new FakeClock(),
    log: recordingLogger(),
    ...options.intake,
  });
  return { nc, jsm, subjects, stream, store: sqlite, events, intake };
}

/**
 * Pulls until `total` messages are handled, asking each time for exactly what is left: a pull
 * that gets fewer than it asked for waits out its ~1 s expiry before resolving.
 */
async function pullAll(intake: SubmitIntake, total: number): Promise<PullResult> {
  const sum: PullResult = { accepted: 0, rejected: 0, duplicates: 0, deferred: 0 };
  const handled = () => sum.accepted + sum.rejected + sum.duplicates;
  for (let pulls = 0; pulls < 20 && handled() < total; pulls++) {
    const r = await intake.pull(total - handled());
    sum.accepted += r.accepted;
    sum.rejected += r.rejected;
    sum.duplicates += r.duplicates;
    sum.deferred += r.deferred;
  }
  return sum;
}

/**
 * What is left in the stream once the server has applied the acks: the intake acks without
 * waiting for the server's confirmation (a lost ack only means a redelivery the store absorbs),
 * so the counts settle a moment after `pull` resolves.
 */
async function queued(r: Rig, expected: { messages: number; unacked: number }): Promise<{ messages: number; unacked: number }> {
  for (let tries = 0; ; tries++) {
    const info = await r.jsm.streams.info(r.stream);
    const consumer = await r.jsm.consumers.info(r.stream, INTAKE_CONSUMER);
    const now = { messages: info.state.messages, unacked: consumer.num_ack_pending };
    if ((now.messages === expected.messages && now.unacked === expected.unacked) || tries >= 100) return now;
    await sleep(20);
  }
}

const json = (value: unknown) => JSON.stringify(value);

describe('the submission stream', () => {
  it('is created as a work queue with one explicit-ack pull consumer, and a second ensure changes nothing', async () => {
    const jsm = await jetstreamManager(await conn());
    const { prefix, stream } = names();
    const options = { stream, subject: `${prefix}.submit`, replicas: 1, duplicateWindowMs: 90_000 };
    await ensureSubmitStream(jsm, options);
    const first = { stream: await jsm.streams.info(stream), consumer: await jsm.consumers.info(stream, INTAKE_CONSUMER) };
    expect(first.stream.config).toMatchObject({ retention: RetentionPolicy.Workqueue, subjects: [`${prefix}.submit`], storage: 'file', num_replicas: 1, duplicate_window: nanos(90_000) });
    expect(first.consumer.config).toMatchObject({ ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_deliver: INTAKE_MAX_DELIVER, filter_subject: `${prefix}.submit` });
    expect(first.consumer.config.deliver_subject).toBeUndefined();

    await ensureSubmitStream(jsm, options);
    const second = { stream: await jsm.streams.info(stream), consumer: await jsm.consumers.info(stream, INTAKE_CONSUMER) };
    expect(second.stream.created).toBe(first.stream.created);
    expect(second.stream.config).toEqual(first.stream.config);
    expect(second.consumer.created).toBe(first.consumer.created);
    expect(second.consumer.config).toEqual(first.consumer.config);
  });

  it('refuses an existing stream of that name with another retention, naming it, the difference and the fix', async () => {
    const jsm = await jetstreamManager(await conn());
    const { prefix, stream } = names();
    await jsm.streams.add({ name: stream, subjects: [`${prefix}.submit`] });
    const err = await ensureSubmitStream(jsm, { stream, subject: `${prefix}.submit`, replicas: 1, duplicateWindowMs: 60_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ReeveError);
    expect(err).toMatchObject({ code: ErrorCode.ConfigInvalid });
    expect((err as Error).message).toContain(`stream ${stream} exists but its retention is limits, not workqueue`);
    expect((err as Error).message).toContain(`nats stream rm ${stream}`);
  });

  it('refuses when another stream already captures the submit subject, naming that stream', async () => {
    const jsm = await jetstreamManager(await conn());
    const { prefix, stream } = names();
    const other = `OTHER_${stream}`;
    await jsm.streams.add({ name: other, subjects: [`${prefix}.>`] });
    const err = await ensureSubmitStream(jsm, { stream, subject: `${prefix}.submit`, replicas: 1, duplicateWindowMs: 60_000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.ConfigInvalid });
    expect((err as Error).message).toContain(`stream ${other} already captures subject ${prefix}.submit`);
    expect((err as Error).message).toContain(`nats stream rm ${other}`);
  });

  it('bounds the deliveries of an existing unlimited intake consumer, and refuses another consumer taking the subject', async () => {
    const jsm = await jetstreamManager(await conn());
    const { prefix, stream } = names();
    const subject = `${prefix}.submit`;
    await jsm.streams.add({ name: stream, subjects: [subject], retention: RetentionPolicy.Workqueue });
    await jsm.consumers.add(stream, { durable_name: INTAKE_CONSUMER, ack_policy: AckPolicy.Explicit, max_deliver: -1, filter_subject: subject });
    await ensureSubmitStream(jsm, { stream, subject, replicas: 1, duplicateWindowMs: 60_000 });
    expect((await jsm.consumers.info(stream, INTAKE_CONSUMER)).config.max_deliver).toBe(INTAKE_MAX_DELIVER);

    await jsm.consumers.delete(stream, INTAKE_CONSUMER);
    await jsm.consumers.add(stream, { durable_name: 'someone-else', ack_policy: AckPolicy.Explicit, filter_subject: subject });
    const taken = await ensureSubmitStream(jsm, { stream, subject, replicas: 1, duplicateWindowMs: 60_000 }).catch((e: unknown) => e);
    expect(taken).toMatchObject({ code: ErrorCode.ConfigInvalid });
    expect((taken as Error).message).toContain(`someone-else already consumes ${subject}`);
    expect((taken as Error).message).toContain(`nats consumer rm ${stream} someone-else`);
  });
});

describe('publishSubmission', () => {
  it('names the invalid field and publishes nothing', async () => {
    const r = await rig();
    const js = jetstream(r.nc);
    const err = await publishSubmission(js, r.subjects, { kind: 'echo', priority: 1.5 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.InvalidInput });
    expect((err as Error).message).toContain('priority');
    expect(await queued(r, { messages: 0, unacked: 0 })).toEqual({ messages: 0, unacked: 0 });
  });

  it('says what to check when no stream takes the subject', async () => {
    const js = jetstream(await conn());
    const err = await publishSubmission(js, subjectsFor(`nostream${randomUUID().slice(0, 8)}`), { kind: 'echo' }, { timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.StoreUnavailable });
    expect((err as Error).message).toMatch(/no JetStream stream answered on .*start a Reeve node.*leader/);
  });
});

describe('the intake', () => {
  it('turns a plain core-NATS publish into a task, with a generated id when the body has none', async () => {
    const r = await rig();
    r.nc.publish(r.subjects.submit, json({ id: 'plain-1', kind: 'echo', input: { message: 'hi' }, priority: 2, labels: { team: 'a' } }));
    r.nc.publish(r.subjects.submit, json({ kind: 'ship' }));
    await r.nc.flush();
    expect(await pullAll(r.intake, 2)).toEqual({ accepted: 2, rejected: 0, duplicates: 0, deferred: 0 });
    expect(await r.store.get('plain-1')).toMatchObject({ kind: 'echo', state: 'queued', input: { message: 'hi' }, priority: 2, labels: { team: 'a' } });
    const [generated] = await r.store.query({ kind: 'ship' });
    expect(generated?.id).toMatch(/^t_[0-9a-z]+_[0-9a-z]+$/);
    expect(await queued(r, { messages: 0, unacked: 0 })).toEqual({ messages: 0, unacked: 0 });
  });

  it('lets the server drop a Nats-Msg-Id duplicate within the window, and stores a later same-id body once', async () => {
    const r = await rig();
    const js = jetstream(r.nc);
    const first = await publishSubmission(js, r.subjects, { id: 'dup-1', kind: 'echo' });
    const again = await publishSubmission(js, r.subjects, { id: 'dup-1', kind: 'echo' });
    expect(first).toMatchObject({ id: 'dup-1', duplicate: false });
    expect(again).toEqual({ id: 'dup-1', duplicate: true, seq: first.seq });
    // Without the header (a re-publish after the window looks the same to the intake).
    r.nc.publish(r.subjects.submit, json({ id: 'dup-1', kind: 'echo' }));
    r.nc.publish(r.subjects.submit, json({ id: 'dup-1', kind: 'echo' }));
    await r.nc.flush();
    expect(await pullAll(r.intake, 3)).toEqual({ accepted: 1, rejected: 0, duplicates: 2, deferred: 0 });
    expect(await r.store.query({})).toHaveLength(1);
  });

  it('keeps each malformed message as a dead letter, reports it, acks it, and stores the good ones around it', async () => {
    const r = await rig();
    const good = (n: number) => r.nc.publish(r.subjects.submit, json({ id: `good-${n}`, kind: 'echo', input: { n } }));
    const withHeader = (id: string, body: unknown) => {
      const h = headers();
      h.set('Nats-Msg-Id', id);
      r.nc.publish(r.subjects.submit, json(body), { headers: h });
    };
    good(1);
    r.nc.publish(r.subjects.submit, new Uint8Array([0xff, 0xfe, 0x00, 0x7b]));
    good(2);
    r.nc.publish(r.subjects.submit, '{"kind": "echo", ');
    r.nc.publish(r.subjects.submit, json({ id: 'typed', kind: 42, priority: 'high' }));
    good(3);
    r.nc.publish(r.subjects.submit, json({ id: 'who', kind: 'nope' }));
    r.nc.publish(r.subjects.submit, json({ id: 'big', kind: 'echo', input: 'x'.repeat(1024 * 1024 + 10) }));
    r.nc.publish(r.subjects.submit, json({ id: 'huge', kind: 'echo', input: 'x'.repeat(3 * 1024 * 1024) }));
    good(4);
    withHeader('header-id', { id: 'body-id', kind: 'echo' });
    withHeader('header-only', { kind: 'echo' });
    withHeader('good-5', { id: 'good-5', kind: 'echo', input: { n: 5 } });
    await r.nc.flush();

    expect(await pullAll(r.intake, 13)).toEqual({ accepted: 5, rejected: 8, duplicates: 0, deferred: 0 });
    expect((await r.store.query({})).map((t) => t.id).sort()).toEqual(['good-1', 'good-2', 'good-3', 'good-4', 'good-5']);
    expect(await queued(r, { messages: 0, unacked: 0 })).toEqual({ messages: 0, unacked: 0 });

    const letters = (await r.store.listDeadLetters()).sort((a, b) => a.seq - b.seq);
    expect(letters.map((l) => [l.code, l.id])).toEqual([
      ['INVALID_JSON', undefined],
      ['INVALID_JSON', undefined],
      ['INVALID_INPUT', 'typed'],
      ['UNKNOWN_KIND', 'who'],
      ['INPUT_TOO_LARGE', 'big'],
      ['INPUT_TOO_LARGE', undefined], // refused unread: far over the limit
      ['ID_MISMATCH', 'body-id'],
      ['ID_MISMATCH', 'header-only'],
    ]);
    for (const l of letters) expect(l.source).toBe(`nats:${r.subjects.submit}`);
    const reasons = letters.map((l) => l.reason);
    expect(reasons[0]).toMatch(/not valid UTF-8/);
    expect(reasons[1]).toMatch(/not JSON/);
    expect(reasons[2]).toMatch(/kind: .*priority: /);
    expect(reasons[3]).toMatch(/unknown kind "nope"; known kinds: echo, ship/);
    expect(reasons[4]).toMatch(/input is \d+ bytes as JSON, over the 1048576-byte limit/);
    expect(reasons[5]).toMatch(/the message is \d+ bytes; a submission's input may be at most 1048576 bytes/);
    expect(reasons[6]).toMatch(/header "header-id" differs from the body's id "body-id"/);
    expect(reasons[7]).toMatch(/header \("header-only"\) but no "id" in its body/);
    expect(letters[5]?.payload).toMatch(/…\[truncated\]$/);
    expect(letters[3]?.payload).toBe(json({ id: 'who', kind: 'nope' }));

    const rejected = r.events.filter((e) => e.subject === r.subjects.rejected).map((e) => rejectedEventSchema.parse(e.data));
    expect(rejected.map((e) => e.code).sort()).toEqual(letters.map((l) => l.code).sort());
    const binary = rejected.find((e) => /UTF-8/.test(e.reason));
    expect(binary?.excerpt).toContain('\\u0000');
    expect(rejected.find((e) => e.id === 'big')?.excerpt.length).toBeLessThan(210);
  });

  it('dead-letters a submission whose timeoutMs is 0 or beyond the longest timer, and stores one within bounds', async () => {
    const r = await rig();
    r.nc.publish(r.subjects.submit, json({ id: 'zero', kind: 'echo', timeoutMs: 0 }));
    r.nc.publish(r.subjects.submit, json({ id: 'month', kind: 'echo', timeoutMs: 30 * 24 * 3600 * 1000 }));
    r.nc.publish(r.subjects.submit, json({ id: 'longest', kind: 'echo', timeoutMs: 2 ** 31 - 1 }));
    await r.nc.flush();
    expect(await pullAll(r.intake, 3)).toEqual({ accepted: 1, rejected: 2, duplicates: 0, deferred: 0 });
    expect(await r.store.get('longest')).toMatchObject({ timeoutMs: 2 ** 31 - 1 });
    const letters = (await r.store.listDeadLetters()).sort((a, b) => a.seq - b.seq);
    expect(letters.map((l) => [l.code, l.id])).toEqual([['INVALID_INPUT', 'zero'], ['INVALID_INPUT', 'month']]);
    expect(letters[0]?.reason).toMatch(/timeoutMs: must be > 0 ms/);
    expect(letters[1]?.reason).toMatch(/timeoutMs: must be at most 2147483647 ms/);
  });

  it('never takes more than max messages in one pull', async () => {
    const r = await rig();
    for (let i = 0; i < 10; i++) r.nc.publish(r.subjects.submit, json({ id: `m-${i}`, kind: 'echo' }));
    await r.nc.flush();
    expect(await r.intake.pull(3)).toMatchObject({ accepted: 3 });
    expect(await queued(r, { messages: 7, unacked: 0 })).toEqual({ messages: 7, unacked: 0 });
    expect((await r.store.query({})).map((t) => t.id).sort()).toEqual(['m-0', 'm-1', 'm-2']);
    expect(await pullAll(r.intake, 7)).toMatchObject({ accepted: 7 });
  });

  it('leaves a message unacked while the store fails, and stores it once the store works', async () => {
    // The failure comes from outside the intake (the store port), so the port is wrapped to
    // inject it; an SQLite store cannot be made to fail transiently on demand.
    let failures = 2;
    const log = recordingLogger();
    const r = await rig({
      wrap: (store) => ({
        ...store,
        submit: async (request) => {
          if (failures-- > 0) throw new ReeveError(ErrorCode.StoreUnavailable, 'KV task store: writing task failed: TIMEOUT');
          return store.submit(request);
        },
        addDeadLetter: (letter) => store.addDeadLetter(letter),
      }),
      intake: { nakBaseMs: 20, log },
    });
    r.nc.publish(r.subjects.submit, json({ id: 'later', kind: 'echo' }));
    await r.nc.flush();
    const first = await r.intake.pull(1);
    expect(first).toMatchObject({ accepted: 0, deferred: 1, storeError: { code: ErrorCode.StoreUnavailable } });
    // An expected outage is logged with its reason, never a stack trace per redelivery.
    const deferral = log.lines.find((l) => l.msg === 'submission not stored; will be redelivered');
    expect(deferral, JSON.stringify(log.lines)).toMatchObject({ level: 'warn', fields: { reason: expect.any(String), code: ErrorCode.StoreUnavailable } });
    expect(JSON.stringify(deferral)).not.toContain('    at ');
    expect(await r.store.get('later')).toBeUndefined();
    expect((await r.jsm.streams.info(r.stream)).state.messages).toBe(1); // nak'ed, not acked: no race
    expect(await r.intake.pull(1)).toMatchObject({ deferred: 1 });
    expect(await r.intake.pull(1)).toMatchObject({ accepted: 1, deferred: 0 });
    expect(await r.store.get('later')).toMatchObject({ id: 'later', state: 'queued' });
    expect(await queued(r, { messages: 0, unacked: 0 })).toEqual({ messages: 0, unacked: 0 });
    expect(await r.store.listDeadLetters()).toEqual([]);
  });

  it('redelivers an unknown kind while the node is still learning the cluster’s kinds, and rejects it once settled', async () => {
    let settled = false;
    const r = await rig({ intake: { kindsSettled: () => settled, nakBaseMs: 20 } });
    r.nc.publish(r.subjects.submit, json({ id: 'soon', kind: 'nobody-has-it' }));
    await r.nc.flush();
    expect(await r.intake.pull(1)).toMatchObject({ accepted: 0, rejected: 0, deferred: 1 });
    expect(await r.store.listDeadLetters()).toEqual([]);
    expect((await r.jsm.streams.info(r.stream)).state.messages).toBe(1);
    settled = true;
    expect(await r.intake.pull(1)).toMatchObject({ rejected: 1, deferred: 0 });
    expect(await r.store.listDeadLetters()).toEqual([expect.objectContaining({ code: 'UNKNOWN_KIND', id: 'soon' })]);
  });

  it('stores an id-less message once when its first write succeeded but was not acked', async () => {
    // The write lands, then the intake fails before acking (as if it died): the redelivery
    // carries the same derived id and finds the task.
    let crashAfterWrite = true;
    const r = await rig({
      wrap: (store) => ({
        ...store,
        submit: async (request) => {
          const result = await store.submit(request);
          if (crashAfterWrite) {
            crashAfterWrite = false;
            throw new ReeveError(ErrorCode.StoreUnavailable, 'connection lost after the write');
          }
          return result;
        },
        addDeadLetter: (letter) => store.addDeadLetter(letter),
      }),
      intake: { nakBaseMs: 20 },
    });
    r.nc.publish(r.subjects.submit, json({ kind: 'echo' }));
    await r.nc.flush();
    expect(await r.intake.pull(1)).toMatchObject({ deferred: 1 });
    expect(await r.intake.pull(1)).toMatchObject({ duplicates: 1, accepted: 0 });
    expect(await r.store.query({})).toHaveLength(1);
    expect(await queued(r, { messages: 0, unacked: 0 })).toEqual({ messages: 0, unacked: 0 });
  });

  it('fails a pull with STORE_UNAVAILABLE when the consumer is gone, and takes nothing', async () => {
    const r = await rig();
    r.nc.publish(r.subjects.submit, json({ id: 'orphan', kind: 'echo' }));
    await r.nc.flush();
    await r.jsm.consumers.delete(r.stream, INTAKE_CONSUMER);
    await expect(r.intake.pull(1)).rejects.toMatchObject({ code: ErrorCode.StoreUnavailable, message: expect.stringMatching(/pulling submissions failed/) });
    expect(await r.store.get('orphan')).toBeUndefined();
    expect((await r.jsm.streams.info(r.stream)).state.messages).toBe(1);
  });

  it('leaves a bad message for redelivery when its dead letter cannot be written', async () => {
    let failures = 1;
    const r = await rig({
      wrap: (store) => ({
        ...store,
        submit: (request) => store.submit(request),
        addDeadLetter: async (letter) => {
          if (failures-- > 0) throw new ReeveError(ErrorCode.StoreUnavailable, 'store down');
          return store.addDeadLetter(letter);
        },
      }),
      intake: { nakBaseMs: 20 },
    });
    r.nc.publish(r.subjects.submit, 'not json');
    await r.nc.flush();
    expect(await r.intake.pull(1)).toMatchObject({ rejected: 0, deferred: 1 });
    expect(await r.intake.pull(1)).toMatchObject({ rejected: 1, deferred: 0 });
    expect(await r.store.listDeadLetters()).toHaveLength(1);
    expect(r.events).toHaveLength(1);
  });

  it('rejects an input nested deeper than 512 levels as INVALID_INPUT naming input, with the body\'s id, instead of redelivering it', async () => {
    const r = await rig({ intake: { nakBaseMs: 20 } });
    const deep = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
    r.nc.publish(r.subjects.submit, `{"id":"deep","kind":"echo","input":${deep(10_000)}}`);
    r.nc.publish(r.subjects.submit, `{"id":"deep-513","kind":"echo","input":${deep(513)}}`);
    r.nc.publish(r.subjects.submit, `{"id":"deep-512","kind":"echo","input":${deep(512)}}`);
    await r.nc.flush();
    expect(await pullAll(r.intake, 3)).toEqual({ accepted: 1, rejected: 2, duplicates: 0, deferred: 0 });
    expect(await r.store.get('deep-512')).toMatchObject({ state: 'queued' });
    const letters = (await r.store.listDeadLetters()).sort((a, b) => a.seq - b.seq);
    expect(letters.map((l) => [l.code, l.id])).toEqual([['INVALID_INPUT', 'deep'], ['INVALID_INPUT', 'deep-513']]);
    expect(letters[0]?.reason).toMatch(/input: is nested more than 512 levels deep/);
    const rejected = r.events.filter((e) => e.subject === r.subjects.rejected).map((e) => rejectedEventSchema.parse(e.data));
    expect(rejected.map((e) => `${e.code} ${e.id}`).sort((a, b) => a.localeCompare(b))).toEqual(['INVALID_INPUT deep', 'INVALID_INPUT deep-513']);
    expect(await queued(r, { messages: 0, unacked: 0 })).toEqual({ messages: 0, unacked: 0 });
  });

  it('rejects a message whose store write fails in a way that would repeat, instead of redelivering it', async () => {
    const r = await rig({
      wrap: (store) => ({
        ...store,
        submit: () => Promise.reject(new TypeError('cannot read properties of undefined')),
        addDeadLetter: (letter) => store.addDeadLetter(letter),
      }),
      intake: { nakBaseMs: 20 },
    });
    r.nc.publish(r.subjects.submit, json({ id: 'cursed', kind: 'echo' }));
    await r.nc.flush();
    expect(await r.intake.pull(1)).toMatchObject({ accepted: 0, rejected: 1, deferred: 0 });
    expect(await r.store.listDeadLetters()).toEqual([expect.objectContaining({ code: 'UNPROCESSABLE', id: 'cursed', reason: expect.stringMatching(/TypeError: cannot read/) })]);
    expect(r.events.map((e) => rejectedEventSchema.parse(e.data))).toEqual([expect.objectContaining({ code: 'UNPROCESSABLE', id: 'cursed' })]);
    expect(await queued(r, { messages: 0, unacked: 0 })).toEqual({ messages: 0, unacked: 0 });
  });

  it('dead-letters a message that reaches max_deliver, announces it with its id, and removes it from the work queue', async () => {
    const r = await rig({
      maxDeliver: 2,
      wrap: (store) => ({
        ...store,
        submit: () => Promise.reject(new ReeveError(ErrorCode.StoreUnavailable, 'KV task store: writing task failed: TIMEOUT')),
        addDeadLetter: (letter) => store.addDeadLetter(letter),
      }),
      intake: { nakBaseMs: 20 },
    });
    const events: Rig['events'] = [];
    const handler = handleMaxDeliveries({
      nc: r.nc,
      jsm: r.jsm,
      stream: r.stream,
      consumer: INTAKE_CONSUMER,
      store: r.store,
      bus: { publish: (subject, data) => void events.push({ subject, data }) },
      subjects: r.subjects,
      clock: new FakeClock(),
      log: recordingLogger(),
    });
    cleanups.push(() => handler.close());
    await r.nc.flush();
    const js = jetstream(r.nc);
    await publishSubmission(js, r.subjects, { id: 'stuck', kind: 'echo' });
    expect(await r.intake.pull(1)).toMatchObject({ deferred: 1 });
    expect(await r.intake.pull(1)).toMatchObject({ deferred: 1 });
    // The next pull finds it over the limit: the server sends the advisory instead of the
    // message, and the handler takes it from there.
    expect(await r.intake.pull(1)).toEqual({ accepted: 0, rejected: 0, duplicates: 0, deferred: 0 });
    for (let tries = 0; tries < 100 && (await r.store.listDeadLetters()).length === 0; tries++) await sleep(50);
    expect(await r.store.listDeadLetters()).toEqual([expect.objectContaining({ code: 'MAX_DELIVERIES', id: 'stuck', payload: json({ id: 'stuck', kind: 'echo' }) })]);
    expect(events.map((e) => [e.subject, rejectedEventSchema.parse(e.data).code, (e.data as { id?: string }).id])).toEqual([[r.subjects.rejected, 'MAX_DELIVERIES', 'stuck']]);
    expect(await queued(r, { messages: 0, unacked: 0 })).toEqual({ messages: 0, unacked: 0 });
  });
});
