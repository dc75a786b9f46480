import { afterAll, beforeAll } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from '@nats-io/transport-node';
import { tempDir } from './temp-dir.ts';

/**
 * Real nats-server processes for tests, on 127.0.0.1 only: one server, or a cluster of JetStream
 * servers with routes. Each can crash (kill9), stop cleanly (halt) and come back on the same
 * port with the same store (restart). A watchdog kills every server when the test process ends,
 * even by SIGKILL.
 */
export interface NatsServer {
  /** `nats://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** Unique `server_name` (what a client's `nc.info.server_name` reports). */
  name: string;
  storeDir: string;
  readonly isRunning: boolean;
  /** Ends the server for good: SIGTERM (SIGKILL after 2 s), then removes its directory. */
  stop(): Promise<void>;
  /** SIGTERM, keeping port and store for `restart()`: a clean outage. */
  halt(): Promise<void>;
  /** SIGKILL, keeping port and store for `restart()`: a crash. */
  kill9(): Promise<void>;
  /** Starts it again on the same port and store (halting it first if it runs); resolves once it is ready. */
  restart(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** nats-server `authorization` permissions, as its config file spells them. */
export interface NatsPermissions {
  publish?: string[] | { allow?: string[]; deny?: string[] };
  subscribe?: string[] | { allow?: string[]; deny?: string[] };
  allow_responses?: boolean;
}

export interface NatsServerOptions {
  /** Default 15 s. */
  startTimeoutMs?: number;
  /** Extra command-line arguments (they override the config file). */
  args?: string[];
  /** A fixed client port; default a free one chosen by the server (`-p -1`). */
  port?: number;
  /** Largest message the server accepts, in bytes (server default 1 MiB; nats-server refuses more than 64 MiB). */
  maxPayloadBytes?: number;
  /** Users with a password or an nkey (public key `U…`), and optional permissions; connections without credentials are refused. */
  users?: Array<({ user: string; password: string } | { nkey: string }) & { permissions?: NatsPermissions }>;
  /** A single shared token (nats-server allows users or a token, not both). */
  token?: string;
  /** Clients must speak TLS (a `tls {}` block); the readiness probe connects over TLS too. */
  tls?: NatsServerTls;
  /** Operator (decentralized JWT) mode: connections need a user JWT of a known account; no users or token then. */
  operator?: NatsServerOperator;
  /** Raw nats-server config text, appended to the generated file. */
  extraConfig?: string;
}

/** The trust chain of an operator-mode server (see test/support/test-jwt.ts). */
export interface NatsServerOperator {
  /** The operator JWT the server trusts. */
  jwt: string;
  /** Account public key → account JWT, loaded from memory (`resolver: MEMORY`); include the system account. */
  accounts: Record<string, string>;
  /** The text of a creds file the readiness probe signs in with (a user of an account with JetStream). */
  probeCreds: string;
}

/** PEM file paths of a server's `tls {}` block (see test/support/test-certs.ts). */
export interface NatsServerTls {
  cert: string;
  key: string;
  /** CA of the client certificates under `verify`; the readiness probe also trusts it for the server's certificate. */
  ca: string;
  /** Mutual TLS: the server refuses a client without a certificate signed by `ca`. */
  verify?: boolean;
  /** The certificate and key the readiness probe presents; required with `verify`. */
  probeClient?: { cert: string; key: string };
}

export interface NatsCluster {
  servers: NatsServer[];
  /** Every server's client URL: the seed list a client connects with. */
  urls: string[];
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const BINARY = process.env.NATS_SERVER_BIN ?? (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server');
const MAX_PAYLOAD_CAP = 64 * 1024 * 1024;

/**
 * Runs the server under `sh` holding our stdin pipe: when the test process dies, however it
 * dies, the pipe closes, `read` returns and the server is SIGKILLed. The shell prints the
 * server's pid first, so signals go to the server itself.
 */
const WATCHDOG = [
  'exec 3<&0 </dev/null',
  '"$@" 3<&- &',
  'srv=$!',
  '(read -r _ <&3; kill -KILL "$srv" 2>/dev/null) &',
  'dog=$!',
  'echo "$srv"',
  'wait "$srv"; code=$?',
  'kill "$dog" 2>/dev/null',
  'exit "$code"',
].join('\n');

/** Server pids still running, SIGKILLed on a normal exit too (faster than the watchdog). */
const livePids = new Set<number>();
process.once('exit', () => {
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** One run of a nats-server process. */
class ServerProcess {
  pid: number | undefined;
  exitReason: string | undefined;
  log = '';
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;

  constructor(args: string[]) {
    this.child = spawn('/bin/sh', ['-c', WATCHDOG, 'nats-server-watchdog', BINARY, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        if (this.pid !== undefined) livePids.delete(this.pid);
        this.exitReason = `nats-server exited (${signal ?? code})`;
        resolve();
      });
    });
    this.child.once('error', (err) => {
      this.exitReason = `nats-server did not start: ${err.message}`;
    });
    this.child.stdout?.setEncoding('utf8').once('data', (line: string) => {
      this.pid = Number.parseInt(line, 10);
      livePids.add(this.pid);
    });
    this.child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.log = (this.log + chunk).slice(-4000);
    });
  }

  get isRunning(): boolean {
    return this.exitReason === undefined;
  }

  /** SIGTERM (or SIGKILL), escalating to SIGKILL after 2 s; resolves when the process is gone. */
  async kill(signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
    if (!this.isRunning) return;
    while (this.pid === undefined && this.isRunning) await sleep(5);
    const send = (sig: NodeJS.Signals) => {
      try {
        if (this.pid !== undefined) process.kill(this.pid, sig);
      } catch {
        // exited meanwhile
      }
    };
    send(signal);
    const timer = setTimeout(() => send('SIGKILL'), 2000);
    await this.exited;
    clearTimeout(timer);
    this.child.stdin?.destroy();
  }
}

/**
 * A real nats-server with JetStream on a loopback port and a temp store directory. Resolves
 * once the server accepts connections and JetStream answers.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const dir = tempDir('reeve-nats-');
  const name = `reeve-test-${randomBytes(4).toString('hex')}`;
  const storeDir = join(dir.path, 'js');
  const probeAuth = writeConfig(join(dir.path, 'server.conf'), options);
  const timeoutMs = options.startTimeoutMs ?? 15_000;
  const argsFor = (port: number) => [
    '-c', join(dir.path, 'server.conf'), '-js', '-a', '127.0.0.1', '-p', String(port), '--server_name', name,
    '--store_dir', storeDir, '--ports_file_dir', dir.path, ...(options.args ?? []),
  ];

  const first = new ServerProcess(argsFor(options.port ?? -1));
  try {
    const port = options.port ?? (await portFromFile(first, dir.path, Date.now() + timeoutMs));
    const server = managedServer(first, {
      url: urlOf(port), port, name, storeDir, dir, args: argsFor(port), probeAuth, timeoutMs,
    });
    await server.ready;
    return server;
  } catch (err) {
    await first.kill('SIGKILL');
    dir.remove();
    throw err;
  }
}

interface ServerSpec {
  url: string;
  port: number;
  name: string;
  storeDir: string;
  dir: { path: string; remove(): void };
  /** Arguments of every start after the first: the same port, store and config. */
  args: string[];
  probeAuth?: Partial<NodeConnectionOptions>;
  timeoutMs: number;
  /** false: the first start waits for connections only (a cluster's JetStream is awaited as a whole). */
  jetstreamOnFirstStart?: boolean;
}

/** The handle of one server across its restarts; `ready` settles when its first start is ready. */
function managedServer(first: ServerProcess, spec: ServerSpec): NatsServer & { ready: Promise<void> } {
  let proc = first;
  const ready = (jetstream: boolean) =>
    waitReady(proc, { url: spec.url, name: spec.name, probeAuth: spec.probeAuth, jetstream, deadline: Date.now() + spec.timeoutMs });
  const server = {
    url: spec.url,
    port: spec.port,
    name: spec.name,
    storeDir: spec.storeDir,
    get isRunning() {
      return proc.isRunning;
    },
    stop: async () => {
      await proc.kill('SIGTERM');
      spec.dir.remove();
    },
    halt: () => proc.kill('SIGTERM'),
    kill9: () => proc.kill('SIGKILL'),
    restart: async () => {
      await proc.kill('SIGTERM');
      proc = new ServerProcess(spec.args);
      await ready(true);
    },
    [Symbol.asyncDispose]: () => server.stop(),
    ready: ready(spec.jetstreamOnFirstStart ?? true),
  };
  return server;
}

/**
 * `size` JetStream servers (3 by default) routed to each other on loopback ports picked here,
 * each with its own `server_name` and store. Resolves once every server routes messages to
 * every other and JetStream has a meta leader: on 2.9.10 that takes ~10 s after the servers
 * are up, during which the JetStream API times out.
 */
export async function startNatsCluster(size = 3, options: { startTimeoutMs?: number } = {}): Promise<NatsCluster> {
  // The ports are picked before the servers bind them; if another process took one meanwhile,
  // that server exits at once ("address already in use") and the cluster starts again.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startClusterOnce(size, options.startTimeoutMs ?? 30_000);
    } catch (err) {
      if (attempt >= 3 || !/address already in use/i.test((err as Error).message)) throw err;
    }
  }
}

async function startClusterOnce(size: number, timeoutMs: number): Promise<NatsCluster> {
  const clusterName = `reeve-test-${randomBytes(4).toString('hex')}`;
  const ports = await Promise.all(Array.from({ length: size * 2 }, () => freePort()));
  const clusterPorts = ports.slice(size);
  const servers = Array.from({ length: size }, (_, i) => {
    const dir = tempDir('reeve-nats-cluster-');
    const node = { dir, name: `${clusterName}-n${i + 1}`, port: ports[i]!, storeDir: join(dir.path, 'js') };
    const routes = clusterPorts.filter((_, j) => j !== i).map((p) => `nats-route://127.0.0.1:${p}`);
    const config = { server_name: node.name, listen: `127.0.0.1:${node.port}`, jetstream: { store_dir: node.storeDir }, cluster: { name: clusterName, listen: `127.0.0.1:${clusterPorts[i]}`, routes } };
    writeFileSync(join(dir.path, 'server.conf'), configText(config));
    const args = ['-c', join(dir.path, 'server.conf')];
    return managedServer(new ServerProcess(args), { ...node, url: urlOf(node.port), args, timeoutMs, jetstreamOnFirstStart: false });
  });
  const stopAll = async () => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    const deadline = Date.now() + timeoutMs;
    // allSettled: every start is awaited, so none rejects later unobserved.
    const failed = (await Promise.allSettled(servers.map((s) => s.ready))).find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    await waitFullMesh(servers.map((s) => s.url), deadline);
    await waitJetStream(servers.map((s) => s.url), deadline);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { servers, urls: servers.map((s) => s.url), stop: stopAll, [Symbol.asyncDispose]: stopAll };
}

/** A port free right now on 127.0.0.1 (the OS picks it; another process could take it before we bind, which the start would report). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

function urlOf(port: number): string {
  return `nats://127.0.0.1:${port}`;
}

/** Writes the server's config file; returns what the readiness probe connects with (credentials, TLS files). */
function writeConfig(file: string, options: NatsServerOptions): Partial<NodeConnectionOptions> {
  const config: Record<string, unknown> = {};
  let probeAuth: Partial<NodeConnectionOptions> = {};
  if (options.maxPayloadBytes !== undefined) {
    if (options.maxPayloadBytes > MAX_PAYLOAD_CAP) throw new Error(`nats-server caps max_payload at 64 MiB; got ${options.maxPayloadBytes} bytes`);
    config.max_payload = options.maxPayloadBytes;
  }
  if (options.users && options.token) throw new Error('nats-server takes users or a token, not both');
  if (options.users) {
    // A hidden user with every permission, so readiness can be checked whatever the test's users may do.
    const probe = { user: 'reeve-probe', pass: randomBytes(12).toString('hex') };
    config.authorization = { users: [...options.users, { user: probe.user, password: probe.pass }] };
    probeAuth = probe;
  }
  if (options.token) {
    config.authorization = { token: options.token };
    probeAuth = { token: options.token };
  }
  if (options.operator) {
    if (options.users || options.token) throw new Error('an operator-mode nats-server takes its users from JWTs, not users or a token');
    config.operator = options.operator.jwt;
    config.resolver = 'MEMORY';
    config.resolver_preload = options.operator.accounts;
    probeAuth = { authenticator: credsAuthenticator(new TextEncoder().encode(options.operator.probeCreds)) };
  }
  if (options.tls) {
    const { cert, key, ca, verify = false, probeClient } = options.tls;
    if (verify && !probeClient) throw new Error('a nats-server with tls.verify needs tls.probeClient, or its readiness probe is refused');
    config.tls = { cert_file: cert, key_file: key, ca_file: ca, verify };
    probeAuth = { ...probeAuth, tls: { caFile: ca, ...(probeClient ? { certFile: probeClient.cert, keyFile: probeClient.key } : {}) } };
  }
  writeFileSync(file, `${configText(config)}\n${options.extraConfig ?? ''}\n`);
  return probeAuth;
}

/** nats-server's config format accepts JSON values, so every value is written as JSON (quoting handled). */
function configText(config: Record<string, unknown>): string {
  return Object.entries(config)
    .map(([key, value]) => `${key}: ${JSON.stringify(value)}`)
    .join('\n');
}

/** The client port from the `<exe>_<pid>.ports` file nats-server writes once it listens. */
async function portFromFile(proc: ServerProcess, dir: string, deadline: number): Promise<number> {
  for (;;) {
    if (!proc.isRunning) throw new Error(`${proc.exitReason}\n${proc.log}`);
    if (Date.now() > deadline) throw new Error(`nats-server wrote no ports file in time\n${proc.log}`);
    const port = proc.pid === undefined ? undefined : readPort(dir, proc.pid);
    if (port !== undefined) return port;
    await sleep(20);
  }
}

function readPort(dir: string, pid: number): number | undefined {
  const file = readdirSync(dir).find((name) => name.endsWith(`_${pid}.ports`));
  if (!file) return undefined;
  try {
    // 2.9.10 writes `{"nats":["nats://127.0.0.1:PORT"]}`; newer servers may say `client`.
    const ports = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nats?: string[]; client?: string[] };
    const client = ports.nats?.[0] ?? ports.client?.[0];
    const port = client ? Number(new URL(client.replace(/^nats:/, 'http:')).port) : NaN;
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined; // written but not complete yet
  }
}

interface ReadyCheck {
  url: string;
  name: string;
  probeAuth?: Partial<NodeConnectionOptions> | undefined;
  jetstream: boolean;
  deadline: number;
}

/**
 * Connects until the server answers as itself (its `server_name`, not some other process that
 * took the port) and, if asked, its JetStream API replies.
 */
async function waitReady(proc: ServerProcess, check: ReadyCheck): Promise<void> {
  for (;;) {
    if (!proc.isRunning) throw new Error(`${proc.exitReason} (${check.url})\n${proc.log}`);
    if (Date.now() > check.deadline) throw new Error(`nats-server ${check.name} at ${check.url} was not ready in time\n${proc.log}`);
    const nc = await connect({ servers: check.url, reconnect: false, timeout: 1000, ...check.probeAuth }).catch(() => undefined);
    if (nc) {
      const ok = nc.info?.server_name === check.name && (!check.jetstream || (await jetStreamAnswers(nc)));
      await nc.close();
      if (ok) return;
    }
    await sleep(50);
  }
}

async function jetStreamAnswers(nc: NatsConnection): Promise<boolean> {
  return jetstreamManager(nc, { checkAPI: false, timeout: 1000 })
    .then((jsm) => jsm.getAccountInfo())
    .then(() => true)
    .catch(() => false);
}

/** JetStream's meta leader exists (`getAccountInfo` answers through the seeds). */
async function waitJetStream(urls: string[], deadline: number): Promise<void> {
  const nc = await connect({ servers: urls, timeout: 1000 });
  try {
    while (!(await jetStreamAnswers(nc))) {
      if (Date.now() > deadline) throw new Error(`JetStream of the cluster at ${urls.join(',')} had no meta leader in time`);
      await sleep(250);
    }
  } finally {
    await nc.close();
  }
}

/** Every server routes to every other: a request from each server reaches a responder on each other one. */
async function waitFullMesh(urls: string[], deadline: number): Promise<void> {
  const conns = await Promise.all(urls.map((url) => connect({ servers: url, ignoreClusterUpdates: true, timeout: 1000 })));
  try {
    const probe = `_reeve_probe.${randomBytes(4).toString('hex')}`;
    conns.forEach((nc, i) => nc.subscribe(`${probe}.${i}`, { callback: (_err, msg) => void msg.respond() }));
    for (;;) {
      const pairs = conns.flatMap((nc, from) => urls.map((_, to) => (from === to ? Promise.resolve(true) : nc.request(`${probe}.${to}`, '', { timeout: 500 }).then(() => true, () => false))));
      if ((await Promise.all(pairs)).every(Boolean)) return;
      if (Date.now() > deadline) throw new Error(`nats-server cluster at ${urls.join(',')} did not form its routes in time`);
      await sleep(100);
    }
  } finally {
    await Promise.all(conns.map((nc) => nc.close()));
  }
}

/**
 * One nats-server for the test file (or describe block) that calls this: started before its
 * tests, stopped after them. `url` is readable once the tests run.
 */
export function natsServerForSuite(): { readonly url: string } {
  let server: NatsServer | undefined;
  beforeAll(async () => {
    server = await startNatsServer();
  }, 30_000);
  afterAll(async () => {
    await server?.stop();
  });
  return {
    get url(): string {
      if (!server) throw new Error('the suite nats-server is not started yet: read url inside a test');
      return server.url;
    },
  };
}

/**
 * A 3-server cluster (or `size`) for the describe block that calls this: started before its
 * tests, stopped after them. Read `cluster` inside a test.
 */
export function natsClusterForSuite(size = 3): { readonly cluster: NatsCluster } {
  let cluster: NatsCluster | undefined;
  beforeAll(async () => {
    cluster = await startNatsCluster(size);
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  });
  return {
    get cluster(): NatsCluster {
      if (!cluster) throw new Error('the suite nats-server cluster is not started yet: read it inside a test');
      return cluster;
    },
  };
}
