/**
 * The HTTP API's cost, on a real embedded node in this process:
 *  1. GET /api/v1/tasks/:id at a steady 200 requests/s for 10 s: p50/p99 latency;
 *  2. end-to-end no-op throughput (N tasks submitted, until all succeeded) with no SSE client and
 *     with 10 SSE clients on /api/v1/events (in a child process, counting every frame), in
 *     ABBA rounds of the same run. Target: the clients cost at most 5 % of the tasks/s;
 *  3. the SSE path alone (bench/sse-path.ts): its CPU per event at the node's event rate, as a
 *     share of the node's CPU per task (three events per task).
 * Run: npm run bench:http [-- N ROUNDS] [--clients K] [--skip-latency] [--nice-clients] [--cpu-prof DIR]
 * --nice-clients runs the SSE clients at nice 19, so on a small machine they take less of the
 * node's CPU (a dashboard's browser runs elsewhere); the clients' own CPU per task is printed.
 * --cpu-prof writes a V8 CPU profile of each measured round (without-R / with-R .cpuprofile);
 * `node bench/peers/profile-summary.mjs FILE` sums their self time per module and function.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { Agent, request } from 'node:http';
import { PerformanceObserver } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { parseConfig } from '../src/config/load.ts';
import { startNode } from '../src/node/start-node.ts';
import { median, ssePathCost, sseClients } from './sse-path.ts';

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'cpu-prof': { type: 'string' }, clients: { type: 'string', default: '10' }, 'skip-latency': { type: 'boolean', default: false }, 'nice-clients': { type: 'boolean', default: false } },
});
const N = Number(positionals[0] ?? 5_000);
const ROUNDS = Number(positionals[1] ?? 3);
const CLIENTS = Number(flags.clients);
const profDir = flags['cpu-prof'];
const dir = mkdtempSync(join(tmpdir(), 'reeve-bench-http-'));
writeFileSync(join(dir, 'noop.mjs'), 'export default async function () { return null; }\n');
const log = pino({ level: 'warn' }, pino.destination({ fd: 2, sync: true }));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const config = parseConfig({ node: { concurrency: 32, dataDir: join(dir, 'data'), pollIntervalMs: 50, logLevel: 'warn' }, http: { port: 0 }, agents: { noop: { module: './noop.mjs' } } }, { baseDir: dir });
const node = await startNode({ config, log });
const url = new URL(node.dashboardUrl!);
const port = Number(url.port);
const agent = new Agent({ keepAlive: true, maxSockets: 16 });

function get(path: string): Promise<number> {
  const start = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve(performance.now() - start) : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function latency(): Promise<void> {
  const { task } = await node.store.submit({ id: 'bench-latency', kind: 'noop' });
  const rate = 200;
  const total = rate * 10;
  const times: number[] = [];
  const start = performance.now();
  const pending: Array<Promise<void>> = [];
  for (let i = 0; i < total; i++) {
    const due = start + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    pending.push(get(`/api/v1/tasks/${task.id}`).then((ms) => void times.push(ms)));
  }
  await Promise.all(pending);
  times.sort((a, b) => a - b);
  console.log(`GET /api/v1/tasks/:id at ${rate}/s for 10 s: p50 ${quantile(times, 0.5).toFixed(2)} ms, p99 ${quantile(times, 0.99).toFixed(2)} ms (${times.length} requests)`);
}

let session: Session | undefined;
if (profDir) {
  mkdirSync(profDir, { recursive: true });
  session = new Session();
  session.connect();
  await session.post('Profiler.enable');
}

/** Runs `measure` under the CPU profiler when --cpu-prof is given. */
async function profiled<T>(name: string, measure: () => Promise<T>): Promise<T> {
  if (!session || !profDir) return measure();
  await session.post('Profiler.start');
  try {
    return await measure();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(join(profDir, `${name}.cpuprofile`), JSON.stringify(profile));
  }
}

/** Milliseconds this process spent in garbage collection so far (every kind of pause). */
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcMs += entry.duration;
}).observe({ entryTypes: ['gc'] });

let round = 0;
/** Tasks per second (wall clock), CPU and GC microseconds of this process (the node) per task. */
async function throughput(): Promise<{ rate: number; cpuUs: number; gcUs: number }> {
  const prefix = `r${round++}`;
  let done = 0;
  let finished!: () => void;
  const all = new Promise<void>((resolve) => (finished = resolve));
  const sub = node.backend.bus.subscribe(node.backend.subjects.taskEvents, (m) => {
    if ((m.data as { state?: string }).state === 'succeeded' && (m.data as { id: string }).id.startsWith(prefix) && ++done === N) finished();
  });
  const start = performance.now();
  const cpu = process.cpuUsage();
  const gcBefore = gcMs;
  for (let i = 0; i < N; i++) await node.store.submit({ id: `${prefix}-${i}`, kind: 'noop' });
  await all;
  const rate = (N / (performance.now() - start)) * 1000;
  const used = process.cpuUsage(cpu);
  sub.unsubscribe();
  return { rate, cpuUs: (used.user + used.system) / N, gcUs: ((gcMs - gcBefore) * 1000) / N };
}

let stopped = false;
async function stopNode(): Promise<void> {
  if (stopped) return;
  stopped = true;
  agent.destroy();
  await node.drain(0);
  await node.done;
}
const show = (xs: Array<{ rate: number; cpuUs: number; gcUs: number }>) => xs.map((x) => `${x.rate.toFixed(0)}/s ${x.cpuUs.toFixed(0)}µs (gc ${x.gcUs.toFixed(0)})`).join(', ');

try {
  if (!flags['skip-latency']) await latency();
  await throughput(); // warm-up: worker threads, JIT
  const without: Array<{ rate: number; cpuUs: number; gcUs: number }> = [];
  const withClients: Array<{ rate: number; cpuUs: number; gcUs: number }> = [];
  let frames = 0;
  let clientCpuUs = 0;
  // ABBA: odd rounds measure with clients first, so drift over the run (JIT, the store growing,
  // other load) falls on both sides alike.
  for (let r = 0; r < ROUNDS; r++) {
    const measureWith = async () => {
      const clients = await sseClients(port, CLIENTS, '/api/v1/events', { nice: flags['nice-clients'] });
      withClients.push(await profiled(`with-${r}`, throughput));
      const read = await clients.stop();
      frames += read.frames;
      clientCpuUs += read.cpuUs;
    };
    if (r % 2 === 1) await measureWith();
    without.push(await profiled(`without-${r}`, throughput));
    if (r % 2 === 0) await measureWith();
  }
  const a = median(without.map((x) => x.rate));
  const b = median(withClients.map((x) => x.rate));
  const ca = median(without.map((x) => x.cpuUs));
  const cb = median(withClients.map((x) => x.cpuUs));
  console.log(`no-op throughput, ${N} tasks, median of ${ROUNDS} rounds: ${a.toFixed(0)}/s without SSE clients, ${b.toFixed(0)}/s with ${CLIENTS} (${frames} frames read): ${(((a - b) / a) * 100).toFixed(1)} % fewer tasks/s`);
  console.log(`node CPU per task (this process): ${ca.toFixed(0)} µs without, ${cb.toFixed(0)} µs with ${CLIENTS} clients: ${(((cb - ca) / ca) * 100).toFixed(1)} % more`);
  // Each round's pair ran back to back: the median of the per-round ratios shrugs off the drift
  // that moves whole rounds on a busy machine.
  const pairRate = median(without.map((x, i) => 1 - withClients[i]!.rate / x.rate)) * 100;
  const pairCpu = median(without.map((x, i) => withClients[i]!.cpuUs / x.cpuUs - 1)) * 100;
  console.log(`the clients' own process: ${(clientCpuUs / (N * ROUNDS)).toFixed(0)} µs CPU per task, on the same cores as the node`);
  console.log(`per-round pairs, median: ${pairRate.toFixed(1)} % fewer tasks/s, ${pairCpu.toFixed(1)} % more node CPU per task`);
  console.log(`  rounds without: ${show(without)}`);
  console.log(`  rounds with:    ${show(withClients)}`);
  await stopNode();
  const alone = await ssePathCost({ ratePerSecond: 3 * a, clients: CLIENTS, rounds: 6, seconds: 3, log });
  console.log(
    `SSE path alone at ${(3 * a).toFixed(0)} events/s, ${CLIENTS} clients: ${alone.perEvent.toFixed(1)} µs CPU per event (medians ${median(alone.with).toFixed(1)} - ${median(alone.without).toFixed(1)}), ` +
      `${(((3 * alone.perEvent) / ca) * 100).toFixed(1)} % of the node's ${ca.toFixed(0)} µs per task`,
  );
} finally {
  await stopNode();
  rmSync(dir, { recursive: true, force: true });
}
