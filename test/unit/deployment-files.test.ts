import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, errors as natsErrors, nanos, type NatsConnection, type NodeConnectionOptions, type PermissionViolationError } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/temp-dir.ts';
import { APPROVER_INBOX, BUCKET, CONSUMER, NATS_DIR, NATS_SERVER, PASSWORDS, PUBLISHER_INBOX, read, ROOT, STREAM, USERS } from './deployment-fixtures.ts';

/**
 * The users' permissions in deploy/nats/auth.conf, on a real nats-server: single.conf is started
 * as shipped, and each user (node, publisher, operator, sys) does what Reeve does with the
 * client Reeve uses, and is refused what it may not do. Also: docs/cluster.md names only files
 * that exist. (deploy/nats/auth.conf and docs/cluster.md name this file.) The configs
 * themselves are checked in deploy-nats-configs.test.ts; docker-compose.yml, the Dockerfile and
 * .dockerignore in docker-compose-and-dockerfile.test.ts.
 */

/** A connection plus the permission errors the server reported to it. */
interface Conn {
  nc: NatsConnection;
  violations: PermissionViolationError[];
}

describe('permissions of deploy/nats/auth.conf on a real nats-server', () => {
  let server: { url: string; stop(): Promise<void> };
  const conns: Conn[] = [];

  beforeAll(async () => {
    server = await startDeployedServer();
  }, 30_000);

  afterAll(async () => {
    for (const c of conns) await c.nc.close().catch(() => undefined);
    await server?.stop();
  });

  async function as(user: keyof typeof USERS, options: Partial<NodeConnectionOptions> = {}): Promise<Conn> {
    const nc = await connect({ servers: server.url, user, pass: USERS[user], reconnect: false, ...options });
    const conn: Conn = { nc, violations: [] };
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === 'error' && s.error instanceof natsErrors.PermissionViolationError) conn.violations.push(s.error);
      }
    })();
    conns.push(conn);
    return conn;
  }

  /** Resolves once the server has reported a violation of `operation` on `subject` to `conn`. */
  async function denied(conn: Conn, operation: 'publish' | 'subscription', subject: string): Promise<void> {
    const deadline = Date.now() + 3000;
    while (!conn.violations.some((v) => v.operation === operation && v.subject === subject)) {
      if (Date.now() > deadline) throw new Error(`expected the server to refuse ${operation} to ${subject}; it did not`);
      await sleep(10);
    }
  }

  /** Everything sent so far has been processed, and none of it was refused. */
  async function allowed(conn: Conn): Promise<void> {
    await conn.nc.flush();
    expect(conn.violations.map((v) => `${v.operation} ${v.subject}`)).toEqual([]);
  }

  async function message(sub: AsyncIterable<{ string(): string }>, timeoutMs = 3000): Promise<string | undefined> {
    const it = sub[Symbol.asyncIterator]();
    const timeout = sleep(timeoutMs).then(() => undefined);
    const next = it.next().then((r) => (r.done ? undefined : r.value.string()));
    return Promise.race([next, timeout]);
  }

  // Reeve's nodes create the stream, its consumer and the bucket; every test needs them, and
  // the first one checks that a node may do it.
  let infrastructure: Promise<{ node: Conn; jsm: JetStreamManager }> | undefined;
  const setUp = () =>
    (infrastructure ??= (async () => {
      const node = await as('node');
      const jsm = await jetstreamManager(node.nc, { timeout: 3000 });
      await jsm.streams.add({ name: STREAM, subjects: ['reeve.submit'], retention: RetentionPolicy.Workqueue, num_replicas: 1, duplicate_window: nanos(120_000) });
      await jsm.consumers.add(STREAM, { durable_name: CONSUMER, ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_deliver: -1, filter_subject: 'reeve.submit' });
      // As the KV task store opens it (src/store/kv/kv-task-store.ts).
      await new Kvm(node.nc).create(BUCKET, { history: 1, replicas: 1, allow_direct: false });
      return { node, jsm };
    })());

  it('serves the raised max_payload', async () => {
    const { nc } = await as('operator');
    expect(nc.info?.max_payload).toBe(8 * 1024 * 1024);
  });

  it('node: creates and checks the submission stream, its durable pull consumer and the KV bucket', async () => {
    const { node, jsm } = await setUp();
    expect((await jsm.streams.info(STREAM)).config.retention).toBe(RetentionPolicy.Workqueue);
    expect((await jsm.consumers.info(STREAM, CONSUMER)).config.filter_subject).toBe('reeve.submit');
    // The error paths that name what is in the way.
    expect(await jsm.streams.find('reeve.submit')).toBe(STREAM);
    const consumers: string[] = [];
    for await (const c of jsm.consumers.list(STREAM)) consumers.push(c.name);
    expect(consumers).toEqual([CONSUMER]);
    // A second node starting finds them and binds.
    await jsm.consumers.add(STREAM, { durable_name: CONSUMER, ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), max_deliver: -1, filter_subject: 'reeve.submit' });
    await new Kvm(node.nc).create(BUCKET, { history: 1, replicas: 1, allow_direct: false });
    await allowed(node);
  });

  it('node: pulls submissions and acks, naks and marks them in progress', async () => {
    const { node } = await setUp();
    const js = jetstream(node.nc, { timeout: 3000 });
    for (const id of ['n-1', 'n-2', 'n-3']) await js.publish('reeve.submit', JSON.stringify({ id, kind: 'echo' }), { msgID: id });
    const consumer = await js.consumers.get(STREAM, CONSUMER);
    const first = await consumer.next({ expires: 2000 });
    expect(first?.json<{ id: string }>().id).toBe('n-1');
    first!.working();
    first!.nak(50);
    const batch = await consumer.fetch({ max_messages: 3, expires: 2000 });
    const ids: string[] = [];
    for await (const m of batch) {
      ids.push(m.json<{ id: string }>().id);
      expect(await m.ackAck()).toBe(true);
    }
    expect(ids.sort()).toEqual(['n-1', 'n-2', 'n-3']);
    await allowed(node);
  });

  it('node: bounds the consumer\'s deliveries and dead-letters a submission that reached them (advisory, read, delete)', async () => {
    const { node, jsm } = await setUp();
    await jsm.consumers.update(STREAM, CONSUMER, { max_deliver: 30 });
    const advisories = node.nc.subscribe('$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.REEVE_SUBMIT.reeve-intake', { queue: 'reeve-max-deliveries' });
    const js = jetstream(node.nc, { timeout: 3000 });
    const ack = await js.publish('reeve.submit', JSON.stringify({ id: 'md-1', kind: 'echo' }), { msgID: 'md-1' });
    expect((await jsm.streams.getMessage(STREAM, { seq: ack.seq }))?.json<{ id: string }>().id).toBe('md-1');
    expect(await jsm.streams.deleteMessage(STREAM, ack.seq, false)).toBe(true);
    advisories.unsubscribe();
    await allowed(node);
  });

  it('node: reads and writes the KV bucket with compare-and-set, watches it and lists keys', async () => {
    const { node, jsm } = await setUp();
    const kv = await new Kvm(node.nc).open(BUCKET);
    const watch = await kv.watch({ key: 't.>' });
    const revision = await kv.create('t.k-1', JSON.stringify({ state: 'queued' }));
    await expect(kv.create('t.k-1', 'again')).rejects.toThrow();
    const updated = await kv.update('t.k-1', JSON.stringify({ state: 'running' }), revision);
    await expect(kv.update('t.k-1', 'stale', revision)).rejects.toThrow(/wrong last sequence/);
    expect((await kv.get('t.k-1'))?.revision).toBe(updated);
    await kv.put('n.node-a', JSON.stringify({ up: true }));
    const keys: string[] = [];
    for await (const k of await kv.keys('n.>')) keys.push(k);
    expect(keys).toEqual(['n.node-a']);
    expect((await jsm.streams.getMessage(`KV_${BUCKET}`, { last_by_subj: `$KV.${BUCKET}.t.>` }))?.seq).toBe(updated);
    await kv.delete('n.node-a');
    const seen: number[] = [];
    for await (const e of watch) {
      seen.push(e.revision);
      if (e.revision === updated) break;
    }
    expect(seen).toEqual([revision, updated]);
    await allowed(node);
  });

  it('node: heartbeats, publishes events and answers a drain request from the operator', async () => {
    const { node } = await setUp();
    const operator = await as('operator');
    const heartbeats = operator.nc.subscribe('reeve.nodes.heartbeat.*');
    const control = node.nc.subscribe('reeve.nodes.control.node-a', {
      callback: (_err, m) => void m.respond(JSON.stringify({ accepted: true, node: 'node-a', incarnation: 'i-1' })),
    });
    await node.nc.flush();
    await operator.nc.flush();
    node.nc.publish('reeve.nodes.heartbeat.node-a', JSON.stringify({ id: 'node-a' }));
    node.nc.publish('reeve.events.task.k-1', JSON.stringify({ id: 'k-1', state: 'running' }));
    node.nc.publish('reeve.nodes.drained.node-a', JSON.stringify({ id: 'node-a' }));
    expect(await message(heartbeats)).toContain('node-a');
    const reply = await operator.nc.request('reeve.nodes.control.node-a', JSON.stringify({ op: 'drain' }), { timeout: 3000 });
    expect(reply.json()).toMatchObject({ accepted: true });
    control.unsubscribe();
    heartbeats.unsubscribe();
    await allowed(node);
    await allowed(operator);
  });

  it('node: may not delete streams, create others, or write to other buckets and inboxes', async () => {
    const { node, jsm } = await setUp();
    void jsm.streams.delete(STREAM).catch(() => undefined);
    await denied(node, 'publish', `$JS.API.STREAM.DELETE.${STREAM}`);
    void jsm.streams.purge(`KV_${BUCKET}`).catch(() => undefined);
    await denied(node, 'publish', `$JS.API.STREAM.PURGE.KV_${BUCKET}`);
    void jsm.streams.add({ name: 'OTHER', subjects: ['other'] }).catch(() => undefined);
    await denied(node, 'publish', '$JS.API.STREAM.CREATE.OTHER');
    node.nc.publish('$KV.other-bucket.k', 'x');
    await denied(node, 'publish', '$KV.other-bucket.k');
    // Replies only to requests it received (allow_responses), never to an inbox of its choosing.
    node.nc.publish('_INBOX.someone.1', 'forged');
    await denied(node, 'publish', '_INBOX.someone.1');
  });

  it('publisher: submits with a core publish and with a JetStream publish, deduplicated on Nats-Msg-Id', async () => {
    await setUp();
    const operator = await as('operator');
    const submissions = operator.nc.subscribe('reeve.submit');
    await operator.nc.flush();
    const publisher = await as('publisher', { inboxPrefix: PUBLISHER_INBOX });
    publisher.nc.publish('reeve.submit', JSON.stringify({ kind: 'echo', input: {} }));
    expect(await message(submissions)).toContain('"kind":"echo"');
    submissions.unsubscribe();
    const js = jetstream(publisher.nc, { timeout: 3000 });
    const body = JSON.stringify({ id: 'pub-1', kind: 'echo', input: {} });
    const first = await js.publish('reeve.submit', body, { msgID: 'pub-1' });
    const again = await js.publish('reeve.submit', body, { msgID: 'pub-1' });
    expect(first.stream).toBe(STREAM);
    expect(first.duplicate).toBe(false);
    expect(again).toMatchObject({ seq: first.seq, duplicate: true });
    await allowed(publisher);
  });

  it('publisher: follows task events', async () => {
    const { node } = await setUp();
    const publisher = await as('publisher', { inboxPrefix: PUBLISHER_INBOX });
    const events = publisher.nc.subscribe('reeve.events.task.*');
    const rejected = publisher.nc.subscribe('reeve.events.rejected');
    await publisher.nc.flush();
    node.nc.publish('reeve.events.task.pub-1', JSON.stringify({ id: 'pub-1', state: 'succeeded' }));
    node.nc.publish('reeve.events.rejected', JSON.stringify({ code: 'INVALID_INPUT' }));
    expect(await message(events)).toContain('succeeded');
    expect(await message(rejected)).toContain('INVALID_INPUT');
    await allowed(publisher);
  });

  it('publisher: may not control nodes, forge events, touch the bucket or read other inboxes', async () => {
    const { node } = await setUp();
    const control = node.nc.subscribe('reeve.nodes.control.node-a');
    await node.nc.flush();
    const publisher = await as('publisher', { inboxPrefix: PUBLISHER_INBOX });
    publisher.nc.publish('reeve.nodes.control.x', JSON.stringify({ op: 'drain' }));
    await denied(publisher, 'publish', 'reeve.nodes.control.x');
    publisher.nc.publish('reeve.nodes.control.node-a', JSON.stringify({ op: 'drain' }));
    await denied(publisher, 'publish', 'reeve.nodes.control.node-a');
    expect(await message(control, 300)).toBeUndefined();
    control.unsubscribe();
    for (const subject of ['reeve.events.task.pub-1', 'reeve.nodes.heartbeat.fake', `$KV.${BUCKET}.t.pub-1`, `$JS.API.STREAM.INFO.${STREAM}`]) {
      publisher.nc.publish(subject, '{}');
      await denied(publisher, 'publish', subject);
    }
    for (const subject of ['_INBOX.>', 'reeve.nodes.>', `$KV.${BUCKET}.>`]) {
      publisher.nc.subscribe(subject);
      await denied(publisher, 'subscription', subject);
    }
  });

  it('publisher: a JetStream publish needs the publisher inbox prefix', async () => {
    await setUp();
    const publisher = await as('publisher');
    const js = jetstream(publisher.nc, { timeout: 3000 });
    await expect(js.publish('reeve.submit', JSON.stringify({ kind: 'echo' }))).rejects.toThrow();
    expect(publisher.violations.some((v) => v.operation === 'subscription' && v.subject.startsWith('_INBOX.'))).toBe(true);
  });

  it('approver: decides on a task over request/reply, answered by a node in the task-control queue group', async () => {
    const { node } = await setUp();
    const control = node.nc.subscribe('reeve.control.task.*', {
      queue: 'reeve-task-control',
      callback: (_err, m) => void m.respond(JSON.stringify({ ok: true, task: { id: m.subject.split('.').at(-1), state: 'queued' } })),
    });
    await node.nc.flush();
    const approver = await as('approver', { inboxPrefix: APPROVER_INBOX });
    const reply = await approver.nc.request('reeve.control.task.t-1', JSON.stringify({ op: 'approve', reason: 'ok' }), { timeout: 3000 });
    expect(reply.json()).toEqual({ ok: true, task: { id: 't-1', state: 'queued' } });
    control.unsubscribe();
    await allowed(approver);
  });

  it('approver: may not submit, control nodes, forge events, touch the bucket or read other inboxes and events', async () => {
    await setUp();
    const approver = await as('approver', { inboxPrefix: APPROVER_INBOX });
    for (const subject of ['reeve.submit', 'reeve.nodes.control.node-a', 'reeve.events.task.t-1', `$KV.${BUCKET}.t.t-1`, `$JS.API.STREAM.INFO.${STREAM}`, 'reeve.control.task.t-1.extra']) {
      approver.nc.publish(subject, '{}');
      await denied(approver, 'publish', subject);
    }
    for (const subject of ['_INBOX.>', 'reeve.events.>', 'reeve.control.task.*', `$KV.${BUCKET}.>`]) {
      approver.nc.subscribe(subject);
      await denied(approver, 'subscription', subject);
    }
  });

  it('operator: administers the account: streams, consumers, the bucket', async () => {
    await setUp();
    const operator = await as('operator');
    const jsm = await jetstreamManager(operator.nc, { timeout: 3000 });
    const names: string[] = [];
    for await (const s of jsm.streams.names()) names.push(s);
    expect(names.sort()).toEqual([STREAM, `KV_${BUCKET}`].sort());
    expect((await jsm.consumers.info(STREAM, CONSUMER)).name).toBe(CONSUMER);
    const kv = await new Kvm(operator.nc).open(BUCKET);
    expect((await kv.get('t.k-1'))?.json()).toEqual({ state: 'running' });
    await jsm.streams.purge(`KV_${BUCKET}`, { filter: `$KV.${BUCKET}.x.none` });
    await jetstream(operator.nc).publish('reeve.submit', JSON.stringify({ id: 'op-1', kind: 'echo' }), { msgID: 'op-1' });
    // `reeve purge` and `reeve retry` on a replicated bucket of 2.9.10 also write the token bucket.
    const revision = await kv.put('t.gone', '{}');
    const tokens = await new Kvm(operator.nc).create(`${BUCKET}-cas`, { history: 1 });
    await tokens.create(`t.gone.${revision}`, 'operator');
    await kv.purge('t.gone', { previousSeq: revision });
    expect((await kv.get('t.gone'))?.operation).toBe('PURGE');
    await allowed(operator);
  });

  it('sys: reaches the system account for server reports', async () => {
    const sys = await as('sys');
    const pong = await sys.nc.request('$SYS.REQ.SERVER.PING', '', { timeout: 3000 });
    expect(pong.json<{ server: { name: string } }>().server.name).toBe('reeve-nats');
  });
});

/**
 * deploy/nats/single.conf as shipped (auth.conf and server.conf included unchanged, but
 * store_dir pointed at a temp directory: nats-server refuses a --store_dir flag next to one in
 * the file), on 127.0.0.1 with random ports.
 */
async function startDeployedServer(): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = tempDir('reeve-deploy-nats-');
  for (const file of ['single.conf', 'auth.conf']) copyFileSync(join(NATS_DIR, file), join(dir.path, file));
  const serverConf = readFileSync(join(NATS_DIR, 'server.conf'), 'utf8');
  const storeDir = /^(\s*store_dir:\s*)"[^"]*"$/m;
  if (!storeDir.test(serverConf)) throw new Error('deploy/nats/server.conf has no store_dir line to point at a temp directory');
  writeFileSync(join(dir.path, 'server.conf'), serverConf.replace(storeDir, `$1"${join(dir.path, 'js')}"`));

  const child: ChildProcess = spawn(NATS_SERVER, ['-c', join(dir.path, 'single.conf'), '-a', '127.0.0.1', '-p', '-1', '-m', '-1', '--ports_file_dir', dir.path], {
    env: { PATH: process.env.PATH, ...PASSWORDS },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (log = (log + chunk).slice(-4000)));
  const onExit = () => child.kill('SIGKILL');
  process.on('exit', onExit);
  const stop = async () => {
    process.off('exit', onExit);
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
      await gone;
      clearTimeout(timer);
    }
    dir.remove();
  };

  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`nats-server exited (${child.exitCode}):\n${log}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`nats-server did not answer in time:\n${log}`);
    }
    const ports = readdirSync(dir.path).find((f) => f.endsWith('.ports'));
    const url = ports ? portsUrl(join(dir.path, ports)) : undefined;
    if (url) {
      const nc = await connect({ servers: url, user: 'operator', pass: USERS.operator, reconnect: false, timeout: 1000 }).catch(() => undefined);
      const ready = nc ? await jetstreamManager(nc, { timeout: 1000 }).then((jsm) => jsm.getAccountInfo()).then(() => true, () => false) : false;
      await nc?.close();
      if (ready) return { url, stop };
    }
    await sleep(25);
  }
}

function portsUrl(file: string): string | undefined {
  try {
    const ports = JSON.parse(readFileSync(file, 'utf8')) as { nats?: string[]; client?: string[] };
    return ports.nats?.[0] ?? ports.client?.[0];
  } catch {
    return undefined; // not completely written yet
  }
}

describe('docs/cluster.md', () => {
  it('names only files that exist', () => {
    const doc = read('docs/cluster.md');
    const paths = [...doc.matchAll(/\b((?:deploy|docs|examples|src|test)\/[\w./-]*\w|docker-compose\.yml|Dockerfile|\.dockerignore)\b/g)].map((m) => m[1]!);
    expect(paths.length).toBeGreaterThan(5);
    for (const p of new Set(paths)) expect(existsSync(join(ROOT, p.replace(/\{.*$/, ''))), p).toBe(true);
  });
});
