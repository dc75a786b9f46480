import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, errors as natsErrors, nanos, type NatsConnection, type NodeConnectionOptions, type PermissionViolationError } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig } from '../../src/config/load.ts';
import { tempDir } from '../support/temp-dir.ts';

/**
 * The deployment files: deploy/nats (server configs and the users' permissions), the Reeve
 * cluster config, docker-compose.yml, Dockerfile and .dockerignore. There is no Docker engine
 * here, so the compose file and the Dockerfile are checked as text; the NATS configs run on a
 * real nats-server, and each user's permissions are exercised with the client Reeve uses.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NATS_DIR = join(ROOT, 'deploy/nats');
const NATS_SERVER = process.env.NATS_SERVER_BIN ?? (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server');

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/**
 * The users auth.conf defines and the variables their passwords come from, read from the file;
 * each gets a random password here (a letter first: see auth.conf).
 */
const USER_VARIABLES = Object.fromEntries(
  [...read('deploy/nats/auth.conf').matchAll(/\{\s*user:\s*(\w+),\s*password:\s*\$(\w+)/g)].map((m) => [m[1]!, m[2]!]),
) as Record<'publisher' | 'node' | 'operator' | 'sys', string>;
const PASSWORDS: Record<string, string> = Object.fromEntries(Object.values(USER_VARIABLES).map((v) => [v, `p${randomBytes(12).toString('hex')}`]));
const USERS = Object.fromEntries(Object.entries(USER_VARIABLES).map(([user, v]) => [user, PASSWORDS[v]!])) as Record<keyof typeof USER_VARIABLES, string>;

// The names auth.conf grants, which are Reeve's defaults (src/config/schema.ts).
const STREAM = 'REEVE_SUBMIT';
const CONSUMER = 'reeve-intake';
const BUCKET = 'reeve-tasks';
const PUBLISHER_INBOX = '_INBOX_publisher';

function checkConfig(file: string, env: Record<string, string | undefined>) {
  const r = spawnSync(NATS_SERVER, ['-t', '-c', file], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 10_000 });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('deploy/nats server configs', () => {
  it.each(['single.conf', 'nats-1.conf', 'nats-2.conf', 'nats-3.conf'])('%s passes nats-server -t', (file) => {
    const r = checkConfig(join(NATS_DIR, file), PASSWORDS);
    expect(r.output).toContain('is valid');
    expect(r.code).toBe(0);
  });

  it('define the publisher, node, operator and sys users, with passwords from variables Reeve leaves alone', () => {
    expect(Object.keys(USER_VARIABLES).sort()).toEqual(['node', 'operator', 'publisher', 'sys']);
    // Reeve reads every REEVE_* variable as a config override and refuses unknown ones.
    for (const variable of Object.values(USER_VARIABLES)) expect(variable).not.toMatch(/^REEVE_/);
    const example = read('deploy/cluster.env.example');
    const listed = [...example.matchAll(/^(\w+)=$/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual(Object.values(USER_VARIABLES).sort());
  });

  it("grant Reeve's default subject prefix, stream and bucket names", () => {
    const defaults = parseConfig({}, { baseDir: ROOT });
    expect([defaults.nats.prefix, defaults.nats.stream, defaults.store.bucket]).toEqual(['reeve', STREAM, BUCKET]);
    const auth = read('deploy/nats/auth.conf');
    for (const granted of ['"reeve.>"', `"$JS.API.STREAM.CREATE.${STREAM}"`, `"$JS.API.CONSUMER.MSG.NEXT.${STREAM}.${CONSUMER}"`, `"$KV.${BUCKET}.>"`]) expect(auth).toContain(granted);
  });

  it('refuse to start when a password is not in the environment', () => {
    const { [USER_VARIABLES.node]: _missing, ...rest } = PASSWORDS;
    const r = checkConfig(join(NATS_DIR, 'single.conf'), rest);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain(USER_VARIABLES.node);
  });

  it('name each cluster server uniquely, route to all three on 6222 and raise max_payload', () => {
    for (const n of [1, 2, 3]) {
      const text = read(`deploy/nats/nats-${n}.conf`);
      expect(text).toMatch(new RegExp(`^server_name: nats-${n}$`, 'm'));
      expect(text).toMatch(/^include \.\/server\.conf$/m);
      expect(text).toMatch(/^include \.\/cluster\.conf$/m);
    }
    const cluster = read('deploy/nats/cluster.conf');
    for (const n of [1, 2, 3]) expect(cluster).toContain(`"nats-route://nats-${n}:6222"`);
    expect(cluster).toMatch(/^\s*port: 6222$/m);
    const server = read('deploy/nats/server.conf');
    expect(server).toMatch(/^port: 4222$/m);
    expect(server).toMatch(/^http_port: 8222$/m);
    expect(server).toMatch(/^max_payload: 8MB$/m);
  });
});

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

// ---------------------------------------------------------------------------------------------
// docker-compose.yml, Dockerfile, .dockerignore

type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml };
type YamlMap = { [key: string]: Yaml };

const compose = parseYaml(read('docker-compose.yml')) as YamlMap;
const services = compose.services as Record<string, YamlMap>;
const natsServices = Object.keys(services).filter((name) => String(services[name]!.image ?? '').startsWith('nats:'));
const reeveServices = Object.keys(services).filter((name) => services[name]!.build !== undefined);
const env = (service: string) => (services[service]!.environment ?? {}) as Record<string, string>;

describe('docker-compose.yml', () => {
  it.skipIf(!hasPyYaml())('parses the same with PyYAML as with the reader these tests use', () => {
    const r = spawnSync('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', join(ROOT, 'docker-compose.yml')], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(compose);
  });

  it('runs three NATS servers, each with its own config from deploy/nats and a JetStream volume', () => {
    expect(natsServices.sort()).toEqual(['nats-1', 'nats-2', 'nats-3']);
    // The JetStream volume is mounted where the configs keep their store.
    expect(read('deploy/nats/server.conf')).toMatch(/^\s*store_dir: "\/var\/lib\/nats"$/m);
    const namedVolumes = Object.keys(compose.volumes as YamlMap);
    for (const name of natsServices) {
      const s = services[name]!;
      const mount = bindMounts(s).find((m) => m.target === '/etc/nats/reeve');
      expect(mount?.source).toBe('./deploy/nats');
      expect(s.command).toEqual(['--config', `/etc/nats/reeve/${name}.conf`]);
      expect(existsSync(join(ROOT, 'deploy/nats', `${name}.conf`))).toBe(true);
      const data = (s.volumes as string[]).find((v) => v.endsWith(':/var/lib/nats'));
      expect(namedVolumes).toContain(data?.split(':')[0]);
      // Every password auth.conf reads, required: compose stops when one is unset or empty.
      for (const variable of Object.keys(PASSWORDS)) expect(env(name)[variable]).toMatch(new RegExp(`^\\$\\{${variable}:\\?`));
      expect((s.healthcheck as YamlMap).test).toEqual(['CMD', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8222/healthz']);
    }
  });

  it('refers only to files that exist', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const m of bindMounts(s)) expect(existsSync(join(ROOT, m.source)), `${name}: ${m.source}`).toBe(true);
      if (s.build !== undefined) expect(existsSync(join(ROOT, String(s.build), 'Dockerfile')), `${name}: build context`).toBe(true);
      for (const dep of Object.keys((s.depends_on ?? {}) as YamlMap)) expect(services, `${name} depends on ${dep}`).toHaveProperty([dep]);
    }
    expect(existsSync(join(ROOT, 'deploy/cluster.env.example'))).toBe(true);
  });

  it('runs two Reeve nodes on the NATS store, all three servers, replicas 3', () => {
    expect(reeveServices.sort()).toEqual(['node-a', 'node-b']);
    const ids = reeveServices.map((name) => env(name).REEVE_NODE__ID);
    expect(new Set(ids).size).toBe(ids.length);
    for (const name of reeveServices) {
      const e = env(name);
      expect(e.REEVE_STORE__TYPE).toBe('nats');
      expect(e.REEVE_NATS__SERVERS!.split(',').sort()).toEqual(natsServices.map((n) => `nats://${n}:4222`).sort());
      expect(e.REEVE_NATS__REPLICAS).toBe('3');
      expect(e.REEVE_NATS__USER).toBe('node');
      expect(e.REEVE_NATS__PASS).toMatch(/^\$\{NATS_NODE_PASS:\?/);
      const depends = services[name]!.depends_on as Record<string, YamlMap>;
      expect(Object.keys(depends).sort()).toEqual(natsServices.sort());
      for (const dep of Object.values(depends)) expect(dep.condition).toBe('service_healthy');
      expect(services[name]!.restart).toBe('on-failure');
    }
  });

  it("gives the nodes a config that loads with the compose environment, with agents from examples/", async () => {
    for (const name of reeveServices) {
      const e = env(name);
      const hostConfig = containerToHost(services[name]!, e.REEVE_CONFIG!);
      const { config } = await loadConfig({ cwd: ROOT, configPath: hostConfig, env: { ...e, REEVE_NODE__DATADIR: '/var/lib/reeve' } });
      expect(config.store.type).toBe('nats');
      expect(config.nats).toMatchObject({ replicas: 3, user: 'node', prefix: 'reeve', stream: STREAM });
      expect(config.store.bucket).toBe(BUCKET);
      expect(config.node.id).toBe(e.REEVE_NODE__ID);
      const modules = Object.values(config.agents).flatMap((a) =>
        'module' in a ? [a.module] : 'steps' in a ? a.steps.flatMap((s) => [s.run, s.compensate].flatMap((h) => (h && 'module' in h ? [h.module] : []))) : [],
      );
      expect(modules.length).toBeGreaterThan(0);
      for (const m of modules) {
        expect(existsSync(m), m).toBe(true);
        expect(m.startsWith(join(ROOT, 'examples/'))).toBe(true);
      }
      // Node state (node id, process registry, logs) on a named volume at the image's dataDir.
      const data = (services[name]!.volumes as string[]).find((v) => v.endsWith(':/var/lib/reeve'));
      expect(Object.keys(compose.volumes as YamlMap)).toContain(data?.split(':')[0]);
      expect(read('Dockerfile')).toContain('ENV REEVE_NODE__DATADIR=/var/lib/reeve');
    }
  });

  it('lets a node drain before docker stop kills it', async () => {
    for (const name of reeveServices) {
      const e = env(name);
      const { config } = await loadConfig({ cwd: ROOT, configPath: containerToHost(services[name]!, e.REEVE_CONFIG!), env: e });
      const grace = seconds(String(services[name]!.stop_grace_period));
      expect(grace * 1000).toBeGreaterThanOrEqual(config.node.drainTimeoutMs + 10_000);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

  it('builds on node:20-bookworm-slim with the tools better-sqlite3 needs to compile', () => {
    const froms = instructions.filter((l) => l.startsWith('FROM '));
    expect(froms.length).toBeGreaterThan(0);
    for (const f of froms) expect(f).toMatch(/^FROM node:20-bookworm-slim\b/);
    const install = instructions.find((l) => l.includes('apt-get install') && l.includes('g++'));
    for (const tool of ['python3', 'make', 'g++']) expect(install).toContain(` ${tool}`);
  });

  it('installs runtime dependencies only, which is enough to run the TypeScript sources', () => {
    expect(instructions.some((l) => /^RUN npm ci --omit=dev\b/.test(l))).toBe(true);
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; devDependencies: Record<string, string>; bin: Record<string, string> };
    expect(pkg.dependencies).toHaveProperty('tsx');
    expect(pkg.dependencies).toHaveProperty('better-sqlite3');
    expect(read(pkg.bin.reeve!)).toContain("from 'tsx/esm/api'");
    expect(instructions).toContain('ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/reeve.js"]');
    expect(instructions).toContain('CMD ["start"]');
  });

  it('copies only paths that exist and that .dockerignore lets into the build context', () => {
    const ignore = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    const letIn = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    const copies = instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from='));
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) {
      const sources = c.split(/\s+/).slice(1, -1);
      for (const source of sources) {
        expect(existsSync(join(ROOT, source)), source).toBe(true);
        expect(letIn, `.dockerignore must let ${source} in`).toContain(source.replace(/\/$/, ''));
      }
    }
    // What the nodes' config needs inside the image.
    expect(letIn).toEqual(expect.arrayContaining(['bin', 'src', 'examples', 'deploy/reeve', 'package.json', 'package-lock.json']));
    expect(statSync(join(ROOT, 'bin/reeve.js')).isFile()).toBe(true);
  });
});

describe('docs/cluster.md', () => {
  it('names only files that exist', () => {
    const doc = read('docs/cluster.md');
    const paths = [...doc.matchAll(/\b((?:deploy|docs|examples|src|test)\/[\w./-]*\w|docker-compose\.yml|Dockerfile|\.dockerignore)\b/g)].map((m) => m[1]!);
    expect(paths.length).toBeGreaterThan(5);
    for (const p of new Set(paths)) expect(existsSync(join(ROOT, p.replace(/\{.*$/, ''))), p).toBe(true);
  });
});

function hasPyYaml(): boolean {
  return spawnSync('python3', ['-c', 'import yaml'], { stdio: 'ignore' }).status === 0;
}

/** `./host:/container[:ro]` entries of a service's volumes. */
function bindMounts(service: YamlMap): Array<{ source: string; target: string }> {
  return ((service.volumes ?? []) as string[])
    .filter((v) => v.startsWith('./') || v.startsWith('/'))
    .map((v) => {
      const [source, target] = v.split(':');
      return { source: source!, target: target! };
    });
}

/** The host file behind a path inside a service's container, through its bind mounts. */
function containerToHost(service: YamlMap, path: string): string {
  const mount = bindMounts(service).find((m) => path === m.target || path.startsWith(`${m.target}/`));
  if (!mount) throw new Error(`${path} is not inside a bind mount`);
  return resolve(ROOT, mount.source, path.slice(mount.target.length + 1));
}

function seconds(duration: string): number {
  const m = /^(\d+)(s|m)$/.exec(duration);
  if (!m) throw new Error(`expected a duration such as 45s, got ${duration}`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
}

/**
 * The YAML docker-compose.yml uses, no more: block mappings and block lists, plain, single- or
 * double-quoted scalars, flow lists written as JSON, comments. (No YAML library is installed;
 * where PyYAML exists, a test checks this reader agrees with it on the file.)
 */
function parseYaml(text: string): Yaml {
  const lines = text
    .split('\n')
    .map((raw) => stripComment(raw))
    .filter((l) => l.trim() !== '')
    .map((l) => ({ indent: l.length - l.trimStart().length, text: l.trim() }));
  let i = 0;
  const block = (): Yaml => {
    const first = lines[i]!;
    if (first.text === '-' || first.text.startsWith('- ')) {
      const list: Yaml[] = [];
      while (i < lines.length && lines[i]!.indent === first.indent && lines[i]!.text.startsWith('- ')) list.push(scalar(lines[i++]!.text.slice(2).trim()));
      return list;
    }
    const map: YamlMap = {};
    while (i < lines.length && lines[i]!.indent === first.indent) {
      const line = lines[i++]!;
      const m = /^([^\s:"'][^:]*?):(?:\s+(.*))?$/.exec(line.text);
      if (!m) throw new Error(`unsupported YAML line: ${line.text}`);
      const nested = i < lines.length && lines[i]!.indent > line.indent;
      map[m[1]!] = m[2] !== undefined ? scalar(m[2]) : nested ? block() : null;
    }
    if (i < lines.length && lines[i]!.indent > first.indent) throw new Error(`unexpected indentation: ${lines[i]!.text}`);
    return map;
  };
  return block();
}

function scalar(text: string): Yaml {
  if (text.startsWith('"') || text.startsWith('[')) return JSON.parse(text) as Yaml;
  if (text.startsWith("'")) return text.slice(1, -1).replace(/''/g, "'");
  if (text === 'true' || text === 'false') return text === 'true';
  if (text === 'null' || text === '~') return null;
  if (/^-?\d+$/.test(text)) return Number(text);
  if (/^[{&*!|>]/.test(text)) throw new Error(`unsupported YAML value: ${text}`);
  return text;
}

/** The line without a trailing `# comment` (a # inside quotes stays). */
function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}
