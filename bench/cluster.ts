/**
 * Cluster mode end to end, beside raw JetStream measured in the same run on the same server:
 *  1. raw JetStream work queue: publish N with a msgID (pipelined), then one pull consumer
 *     fetches batches and acks every message: msgs/s of each half and of the whole;
 *     raw KV: per key create + get + compare-and-set update, pipelined (the floor of what a
 *     durable task costs in KV writes);
 *  2. Reeve tasks/s, published → every one succeeded (counted from the task events, checked
 *     in the KV store at the end), with 1 and 2 nodes (`reeve start`, separate OS processes),
 *     for trivial tasks (a module agent that returns at once) and I/O-bound ones (each sleeps
 *     50 ms, node concurrency 16);
 *  3. takeover: kill -9 of a node holding leases, time until the other node has claimed every
 *     one of its tasks, beside lease TTL + 2 s.
 * The node and nats-server CPU time during each measured window is printed too (2 cores here:
 * who is busy says where the limit is).
 *
 * Run: npm run bench:cluster [-- N_TRIVIAL]
 * Env: BENCH_CPU_PROF=DIR starts the nodes with `node --cpu-prof --cpu-prof-dir=DIR`;
 *      BENCH_ONLY=raw runs the raw baselines only; otherwise a comma list of the phases to run
 *      after them (trivial1, trivial2, io1, io2, takeover), e.g. BENCH_ONLY=io1 to profile one.
 *      BENCH_TRIVIAL_CONCURRENCY (default 64) node concurrency of the trivial runs.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType, type JsMsg } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { connect, nanos, type NatsConnection } from '@nats-io/transport-node';
import { openKvTaskStore } from '../src/store/kv/kv-task-store.ts';
import { cleanEnv, reeveBin } from '../test/support/cli.ts';
import { startNatsServer, type NatsServer } from '../test/support/nats-server.ts';
import { tempDir } from '../test/support/temp-dir.ts';

const N_TRIVIAL = Number(process.argv[2] ?? 5000);
const N_RAW = 20_000;
const N_KV = 5_000;
const N_IO = 1_600;
const IO_SLEEP_MS = 50;
const IO_CONCURRENCY = 16;
const TRIVIAL_CONCURRENCY = Number(process.env.BENCH_TRIVIAL_CONCURRENCY ?? 64);
const LEASE_TTL_MS = 15_000; // the node default: the takeover is measured as users would see it
const TAKEOVER_TASKS = 12;
const WARMUP = 100;
const PUBLISH_WINDOW = 512;
/**
 * Messages per fetch of the raw consumer. The client's rate depends a lot on it (measured here:
 * 256 at a time ~11,000 msgs/s, 1,000 at a time ~26,000; `consume()` with a callback ~75,000):
 * 1,000 is the "fetch batches + ack" figure the targets were set against (~32,000 on a quiet
 * machine).
 */
const RAW_FETCH = 1000;
const PROF_DIR = process.env.BENCH_CPU_PROF;
const ONLY = process.env.BENCH_ONLY;
const wanted = (phase: 'trivial1' | 'trivial2' | 'io1' | 'io2' | 'takeover') => !ONLY || ONLY.split(',').includes(phase);

const HZ = 100; // USER_HZ: /proc/<pid>/stat times are in clock ticks
const rate = (count: number, ms: number) => Math.round((count / ms) * 1000);

/** utime + stime of a process in ms (0 once it is gone). */
function cpuMs(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / HZ;
  } catch {
    return 0;
  }
}

function natsServerPid(server: NatsServer): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      // cmd[0]: the server itself, not the watchdog shell that has the same arguments.
      if (cmd[0]?.endsWith('nats-server') && cmd.includes(server.name)) return Number(entry);
    } catch {
      // gone
    }
  }
  return undefined;
}

/** Publishes with at most PUBLISH_WINDOW acks outstanding. */
async function publishAll(nc: NatsConnection, subject: string, bodies: Array<{ id: string; body: string }>): Promise<number> {
  const js = jetstream(nc);
  const start = performance.now();
  const inFlight = new Set<Promise<unknown>>();
  for (const { id, body } of bodies) {
    const p = js.publish(subject, body, { msgID: id }).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= PUBLISH_WINDOW) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return performance.now() - start;
}

// ---------------------------------------------------------------------------------------------
// Raw baselines

async function rawWorkQueue(nc: NatsConnection): Promise<{ publish: number; consume: number; whole: number }> {
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'RAW_BENCH', subjects: ['rawbench.>'], retention: RetentionPolicy.Workqueue, storage: StorageType.File, duplicate_window: nanos(120_000) });
  await jsm.consumers.add('RAW_BENCH', { durable_name: 'raw', ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000), filter_subject: 'rawbench.job' });
  const bodies = Array.from({ length: N_RAW }, (_, i) => ({ id: `raw-${i}`, body: JSON.stringify({ id: `raw-${i}`, kind: 'noop' }) }));
  const pubMs = await publishAll(nc, 'rawbench.job', bodies);
  const consumer = await jetstream(nc).consumers.get('RAW_BENCH', 'raw');
  const start = performance.now();
  let got = 0;
  let last: JsMsg | undefined;
  while (got < N_RAW) {
    const batch = await consumer.fetch({ max_messages: RAW_FETCH, expires: 1000 });
    for await (const m of batch) {
      m.ack();
      last = m;
      got++;
    }
  }
  await last?.ackAck();
  const consumeMs = performance.now() - start;
  await jsm.streams.delete('RAW_BENCH');
  return { publish: rate(N_RAW, pubMs), consume: rate(N_RAW, consumeMs), whole: rate(N_RAW, pubMs + consumeMs) };
}

/** Per key: create, get, update(CAS on the revision read), update(CAS): a task's minimum in KV. */
async function rawKv(nc: NatsConnection): Promise<{ keys: number; ops: number }> {
  const kv = await new Kvm(nc).create('rawbench', { history: 1, allow_direct: false });
  const value = new TextEncoder().encode(`{"state":"queued","kind":"noop","priority":0,"seq":0}\n{"history":[],"attempts":{}}`);
  const start = performance.now();
  const one = async (i: number) => {
    const key = `t.k${i}`;
    await kv.create(key, value);
    const e = await kv.get(key);
    const r = await kv.update(key, value, e!.revision);
    await kv.update(key, value, r);
  };
  const inFlight = new Set<Promise<unknown>>();
  for (let i = 0; i < N_KV; i++) {
    const p = one(i).finally(() => inFlight.delete(p));
    inFlight.add(p);
    if (inFlight.size >= 128) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  const ms = performance.now() - start;
  await kv.destroy();
  return { keys: rate(N_KV, ms), ops: rate(N_KV * 4, ms) };
}

// ---------------------------------------------------------------------------------------------
// Reeve nodes as OS processes

interface Phase {
  dir: string;
  prefix: string;
  bucket: string;
  remove(): void;
}

let phaseNo = 0;
function phase(server: NatsServer, concurrency: number, extraAgents: Record<string, unknown> = {}): Phase {
  const n = ++phaseNo;
  const d = tempDir('reeve-bench-cluster-');
  const prefix = `rb${n}`;
  const bucket = `rb${n}-tasks`;
  writeFileSync(join(d.path, 'noop.mjs'), 'export default async function () { return null; }\n');
  writeFileSync(
    join(d.path, 'sleep.mjs'),
    'export default async function (input, ctx) { await new Promise((r) => { const t = setTimeout(r, input.ms); ctx.signal.addEventListener("abort", () => { clearTimeout(t); r(); }); }); return null; }\n',
  );
  const config = {
    node: { concurrency, leaseTtlMs: LEASE_TTL_MS, logLevel: 'warn' },
    store: { type: 'nats', bucket },
    nats: { servers: [server.url], prefix, stream: `RB${n}_SUBMIT` },
    agents: { noop: { module: './noop.mjs' }, sleep: { module: './sleep.mjs' }, ...extraAgents },
  };
  writeFileSync(join(d.path, 'reeve.config.json'), JSON.stringify(config, null, 2));
  return { dir: d.path, prefix, bucket, remove: d.remove };
}

const spawnedAt = new WeakMap<ChildProcess, number>();

/** Nodes still running, SIGKILLed if the bench itself ends early. */
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

type NodeProc = ChildProcess & { id: string; exited: Promise<number | null>; stderrText(): string };

function startNode(p: Phase, id: string): NodeProc {
  // One directory per node: every thread writes its own file (CPU.<date>.<pid>.<thread>.<n>), the main thread's is thread 0.
  const args = PROF_DIR ? ['--cpu-prof', `--cpu-prof-dir=${join(PROF_DIR, `${p.prefix}-${id}`)}`] : [];
  const child = spawn(process.execPath, [...args, reeveBin, 'start'], {
    cwd: p.dir,
    env: cleanEnv({ REEVE_NODE__ID: id, REEVE_NODE__DATADIR: `.reeve-${id}` }),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
  live.add(child);
  spawnedAt.set(child, performance.now());
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exited.then(() => live.delete(child));
  return Object.assign(child, { id, exited, stderrText: () => stderr });
}

async function stopNodes(nodes: NodeProc[], signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  for (const n of nodes) if (n.exitCode === null && n.signalCode === null) n.kill(signal);
  await Promise.all(nodes.map((n) => n.exited));
}

/** Resolves once every node has sent its first heartbeat (the stream exists then). */
async function nodesUp(nc: NatsConnection, p: Phase, nodes: NodeProc[]): Promise<void> {
  const waiting = new Set(nodes.map((n) => n.id));
  const sub = nc.subscribe(`${p.prefix}.nodes.heartbeat.*`);
  const deadline = Date.now() + 60_000;
  const timer = setInterval(() => {
    const dead = nodes.find((n) => n.exitCode !== null);
    if (dead || Date.now() > deadline) sub.unsubscribe();
  }, 200);
  for await (const m of sub) {
    waiting.delete(m.subject.split('.').at(-1)!);
    if (waiting.size === 0) break;
  }
  clearInterval(timer);
  sub.unsubscribe();
  if (waiting.size > 0) throw new Error(`nodes not up: ${[...waiting].join(', ')}\n${nodes.map((n) => n.stderrText()).join('\n')}`);
}

/** Counts `succeeded` task events of the given ids; resolves when all are seen. */
function succeededEvents(nc: NatsConnection, p: Phase, ids: readonly string[]): { done: Promise<number>; seen(): number; stop(): void } {
  const want = new Set(ids);
  let seen = 0;
  let resolve!: (at: number) => void;
  const done = new Promise<number>((r) => (resolve = r));
  const sub = nc.subscribe(`${p.prefix}.events.task.*`, {
    callback: (_err, m) => {
      const id = m.subject.slice(m.subject.lastIndexOf('.') + 1);
      if (!want.has(id)) return;
      if (!m.string().includes('"state":"succeeded"')) return;
      want.delete(id);
      seen++;
      if (want.size === 0) resolve(performance.now());
    },
  });
  return { done, seen: () => seen, stop: () => sub.unsubscribe() };
}

interface RunFigures {
  tasksPerSec: number;
  ms: number;
  publishMs: number;
  nodeCpuPct: number[];
  /** CPU time of all node processes (every thread) per task, in µs. */
  nodeCpuUsPerTask: number;
  natsCpuPct: number;
}

/** Publishes `count` tasks of `kind`, waits until all succeeded; warm-up first. */
async function measure(nc: NatsConnection, server: NatsServer, p: Phase, nodes: NodeProc[], kind: string, input: unknown, count: number, tag: string): Promise<RunFigures> {
  const body = (id: string) => JSON.stringify({ id, kind, ...(input === undefined ? {} : { input }) });
  // Warm-up: every node loads the agent into its worker threads.
  const warm = Array.from({ length: WARMUP }, (_, i) => `${tag}-w${i}`);
  const w = succeededEvents(nc, p, warm);
  await publishAll(nc, `${p.prefix}.submit`, warm.map((id) => ({ id, body: body(id) })));
  await waitOrCheck(w, p, warm, nc, 60_000);
  w.stop();
  await sleep(300);

  const ids = Array.from({ length: count }, (_, i) => `${tag}-${i}`);
  const events = succeededEvents(nc, p, ids);
  const natsPid = natsServerPid(server);
  const cpu0 = nodes.map((n) => cpuMs(n.pid));
  const nats0 = cpuMs(natsPid);
  const start = performance.now();
  const publishMs = await publishAll(nc, `${p.prefix}.submit`, ids.map((id) => ({ id, body: body(id) })));
  const end = await waitOrCheck(events, p, ids, nc, 180_000);
  const ms = end - start;
  const cpu1 = nodes.map((n) => cpuMs(n.pid));
  const nats1 = cpuMs(natsPid);
  events.stop();
  if (PROF_DIR) {
    const at = (n: NodeProc) => `${n.id} ${((start - spawnedAt.get(n)!) / 1000).toFixed(1)}-${((end - spawnedAt.get(n)!) / 1000).toFixed(1)} s`;
    console.log(`  (${tag}: measured window in each node's profile: ${nodes.map(at).join(', ')} after its start)`);
  }
  // The record is the truth: every task must be succeeded in KV.
  const counts = await countsInKv(nc, p);
  if ((counts.succeeded ?? 0) !== count + WARMUP) throw new Error(`${tag}: KV says ${JSON.stringify(counts)}, expected ${count + WARMUP} succeeded`);
  return {
    tasksPerSec: rate(count, ms),
    ms: Math.round(ms),
    publishMs: Math.round(publishMs),
    nodeCpuPct: nodes.map((_, i) => Math.round(((cpu1[i]! - cpu0[i]!) / ms) * 100)),
    nodeCpuUsPerTask: Math.round((nodes.reduce((sum, _, i) => sum + cpu1[i]! - cpu0[i]!, 0) / count) * 1000),
    natsCpuPct: Math.round(((nats1 - nats0) / ms) * 100),
  };
}

/** Waits for the events; if they stall (events are best effort), asks the KV store instead. */
async function waitOrCheck(events: ReturnType<typeof succeededEvents>, p: Phase, ids: readonly string[], nc: NatsConnection, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let lastSeen = -1;
  for (;;) {
    const at = await Promise.race([events.done, sleep(3000).then(() => undefined)]);
    if (at !== undefined) return at;
    if (events.seen() === lastSeen) {
      // No progress for 3 s: maybe an event was lost. The KV record decides.
      const missing = await missingInKv(nc, p, ids);
      if (missing === 0) return performance.now() - 3000; // finished at most 3 s ago: counted conservatively
    }
    lastSeen = events.seen();
    if (Date.now() > deadline) throw new Error(`timed out: ${events.seen()} of ${ids.length} succeeded`);
  }
}

async function missingInKv(nc: NatsConnection, p: Phase, ids: readonly string[]): Promise<number> {
  const store = await openKvTaskStore({ nc, bucket: p.bucket });
  try {
    let missing = 0;
    for (const id of ids) if ((await store.get(id))?.state !== 'succeeded') missing++;
    return missing;
  } finally {
    await store.close();
  }
}

async function countsInKv(nc: NatsConnection, p: Phase) {
  const store = await openKvTaskStore({ nc, bucket: p.bucket });
  try {
    return await store.countByState();
  } finally {
    await store.close();
  }
}

async function runPhase(nc: NatsConnection, server: NatsServer, nodeCount: number, kind: 'noop' | 'sleep', count: number): Promise<RunFigures> {
  const p = phase(server, kind === 'noop' ? TRIVIAL_CONCURRENCY : IO_CONCURRENCY);
  const nodes = Array.from({ length: nodeCount }, (_, i) => startNode(p, `node-${i}`));
  try {
    await nodesUp(nc, p, nodes);
    return await measure(nc, server, p, nodes, kind, kind === 'sleep' ? { ms: IO_SLEEP_MS } : undefined, count, `${kind}${nodeCount}`);
  } finally {
    await stopNodes(nodes);
    p.remove();
  }
}

/** kill -9 of the node holding most leases; time until the other node holds every one of its tasks. */
async function takeover(nc: NatsConnection, server: NatsServer): Promise<{ ms: number; tasks: number; leaseLeftMs: number }> {
  const p = phase(server, IO_CONCURRENCY);
  const nodes = [startNode(p, 'node-a'), startNode(p, 'node-b')];
  const store = await openKvTaskStore({ nc, bucket: p.bucket });
  try {
    await nodesUp(nc, p, nodes);
    const ids = Array.from({ length: TAKEOVER_TASKS }, (_, i) => `long-${i}`);
    await publishAll(nc, `${p.prefix}.submit`, ids.map((id) => ({ id, body: JSON.stringify({ id, kind: 'sleep', input: { ms: 120_000 } }) })));
    const running = async () => (await Promise.all(ids.map((id) => store.get(id)))).filter((t) => t?.state === 'running' && t.owner);
    const deadline = Date.now() + 30_000;
    while ((await running()).length < ids.length) {
      if (Date.now() > deadline) throw new Error('long tasks did not all start');
      await sleep(100);
    }
    const held = await running();
    const byNode = (id: string) => held.filter((t) => t!.owner!.startsWith(`${id}:`));
    const victim = byNode('node-a').length >= byNode('node-b').length ? nodes[0]! : nodes[1]!;
    const survivor = victim === nodes[0] ? nodes[1]! : nodes[0]!;
    const victimTasks = byNode(victim.id).map((t) => t!.id);
    victim.kill('SIGKILL');
    const killedAt = Date.now();
    await victim.exited;
    const expiries = (await Promise.all(victimTasks.map((id) => store.get(id)))).map((t) => t!.leaseExpiresAt ?? killedAt);
    const leaseLeftMs = Math.max(...expiries) - killedAt;
    const limit = killedAt + LEASE_TTL_MS + 30_000;
    for (;;) {
      const tasks = await Promise.all(victimTasks.map((id) => store.get(id)));
      if (tasks.every((t) => t?.owner?.startsWith(`${survivor.id}:`))) break;
      if (Date.now() > limit) throw new Error(`takeover did not happen: ${JSON.stringify(tasks.map((t) => [t?.id, t?.state, t?.owner]))}`);
      await sleep(25);
    }
    return { ms: Date.now() - killedAt, tasks: victimTasks.length, leaseLeftMs };
  } finally {
    await store.close();
    await stopNodes(nodes, 'SIGKILL'); // the survivor holds 2-minute runs; nothing to keep
    p.remove();
  }
}

// ---------------------------------------------------------------------------------------------

const pct = (value: number, of: number) => `${((value / of) * 100).toFixed(1)} %`;
const line = (label: string, value: string, extra = '') => console.log(`${label.padEnd(52)} ${value.padStart(16)}  ${extra}`);
const cpu = (f: RunFigures) => `CPU: node ${f.nodeCpuPct.map((c) => `${c} %`).join(' + ')} (${f.nodeCpuUsPerTask} µs/task), nats-server ${f.natsCpuPct} %`;

class Done extends Error {}
const server = await startNatsServer();
const nc = await connect({ servers: server.url, noAsyncTraces: true });
const started = performance.now();
try {
  console.log(`bench/cluster: nats-server 2.9.10 (1 server, file storage), node ${process.version}, ${availableParallelism()} cores, load average ${loadavg()[0]!.toFixed(1)} at start\n`);
  const raw = await rawWorkQueue(nc);
  const kv = await rawKv(nc);
  line(`raw JetStream publish (msgID, ${PUBLISH_WINDOW} in flight)`, `${raw.publish} msgs/s`);
  line(`raw JetStream consume + ack (fetch ${RAW_FETCH} at a time)`, `${raw.consume} msgs/s`, '← baseline of the 1-node target');
  line('raw JetStream publish then consume + ack', `${raw.whole} msgs/s`);
  line('raw KV create+get+CAS+CAS per key (128 keys in flight)', `${kv.keys} keys/s`, `(${kv.ops} KV ops/s)`);
  console.log();
  if (ONLY === 'raw') throw new Done();

  let t1: RunFigures | undefined;
  let t2: RunFigures | undefined;
  let io1: RunFigures | undefined;
  let io2: RunFigures | undefined;
  let tk: Awaited<ReturnType<typeof takeover>> | undefined;
  if (wanted('trivial1')) {
    t1 = await runPhase(nc, server, 1, 'noop', N_TRIVIAL);
    line(`reeve 1 node, ${N_TRIVIAL} trivial tasks, concurrency ${TRIVIAL_CONCURRENCY}`, `${t1.tasksPerSec} tasks/s`, `${pct(t1.tasksPerSec, raw.consume)} of raw consume+ack; ${t1.ms} ms (publish ${t1.publishMs} ms); ${cpu(t1)}`);
  }
  if (wanted('trivial2')) {
    t2 = await runPhase(nc, server, 2, 'noop', N_TRIVIAL);
    line(`reeve 2 nodes, ${N_TRIVIAL} trivial tasks`, `${t2.tasksPerSec} tasks/s`, `${t1 ? `${(t2.tasksPerSec / t1.tasksPerSec).toFixed(2)}x 1 node ` : ''}(CPU-bound: 2 cores); ${cpu(t2)}`);
  }
  if (wanted('io1')) {
    io1 = await runPhase(nc, server, 1, 'sleep', N_IO);
    const ioCeiling = Math.round((IO_CONCURRENCY * 1000) / IO_SLEEP_MS);
    line(`reeve 1 node, ${N_IO} tasks sleeping ${IO_SLEEP_MS} ms, concurrency ${IO_CONCURRENCY}`, `${io1.tasksPerSec} tasks/s`, `${pct(io1.tasksPerSec, ioCeiling)} of the ${ioCeiling}/s a node can do; ${cpu(io1)}`);
  }
  if (wanted('io2')) {
    io2 = await runPhase(nc, server, 2, 'sleep', N_IO);
    line(`reeve 2 nodes, same`, `${io2.tasksPerSec} tasks/s`, `${io1 ? `${(io2.tasksPerSec / io1.tasksPerSec).toFixed(2)}x 1 node; ` : ''}${cpu(io2)}`);
  }
  if (wanted('takeover')) {
    tk = await takeover(nc, server);
    line(`takeover after kill -9 (${tk.tasks} leased tasks)`, `${(tk.ms / 1000).toFixed(2)} s`, `leases ran out ${(tk.leaseLeftMs / 1000).toFixed(2)} s after the kill; lease TTL ${LEASE_TTL_MS / 1000} s`);
  }

  console.log('\ntargets (every state change durable in KV)');
  const verdict = (ok: boolean) => (ok ? 'met' : 'MISSED');
  if (t1) {
    const t1Ratio = t1.tasksPerSec / raw.consume;
    console.log(`  1 node trivial ≥ 12 % of raw consume+ack         ${pct(t1.tasksPerSec, raw.consume).padStart(8)}  (${t1.tasksPerSec} vs ≥ ${Math.round(raw.consume * 0.12)} tasks/s; ratio to target ${(t1Ratio / 0.12).toFixed(2)})  ${verdict(t1Ratio >= 0.12)}`);
  }
  if (io1 && io2) {
    const s = io2.tasksPerSec / io1.tasksPerSec;
    const ioCeiling = (IO_CONCURRENCY * 1000) / IO_SLEEP_MS;
    const caveat = io1.tasksPerSec < ioCeiling / 2 ? `; but 1 node does only ${pct(io1.tasksPerSec, ioCeiling)} of its ${ioCeiling}/s, which flatters the ratio` : '';
    console.log(`  2 nodes I/O-bound ≥ 1.8x 1 node                  ${`${s.toFixed(2)}x`.padStart(8)}  (${io2.tasksPerSec} vs ${io1.tasksPerSec} tasks/s; ratio to target ${(s / 1.8).toFixed(2)}${caveat})  ${verdict(s >= 1.8)}`);
  }
  if (tk) {
    const limit = LEASE_TTL_MS + 2000;
    console.log(`  takeover ≤ lease TTL + 2 s                       ${`${(tk.ms / 1000).toFixed(2)} s`.padStart(8)}  (limit ${limit / 1000} s; ratio to target ${(tk.ms / limit).toFixed(2)})  ${verdict(tk.ms <= limit)}`);
  }
  console.log(`\n(total ${((performance.now() - started) / 1000).toFixed(0)} s; load average ${loadavg()[0]!.toFixed(1)} at the end: figures from a busy machine are low and noisy)`);
} catch (err) {
  if (!(err instanceof Done)) throw err;
} finally {
  await nc.close();
  await server.stop();
}
