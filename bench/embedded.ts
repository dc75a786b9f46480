/**
 * End to end through a real embedded node, beside the store's raw ceiling from the same run:
 *  1. throughput: N no-op module tasks already queued, concurrency 32, until all succeeded;
 *  2. latency: tasks submitted in-process at a steady rate, p50/p99 submit → start;
 *  3. memory: RSS at 1,000 in-flight sleeping tasks, per extra task beyond the pool's threads;
 *  4. inspection: throughput with `inspect: true` and one createWebSocketReceiver connected, beside
 *     the same run without, alternating, median of 3 each (`-- N --inspect-only` runs just this).
 * Run: npm run bench:embedded [-- N]
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pino from 'pino';
import { createWebSocketReceiver } from '@statelyai/inspect';
import { parseConfig } from '../src/config/load.ts';
import { startNode, type ReeveNode } from '../src/node/start-node.ts';

const N = Number(process.argv[2] ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), 'reeve-bench-e2e-'));
const log = pino({ level: 'warn' }, pino.destination({ fd: 2, sync: true }));
writeFileSync(join(dir, 'noop.mjs'), 'export default async function () { return null; }\n');
writeFileSync(join(dir, 'sleep.mjs'), 'export default async function (input, ctx) { await new Promise((r) => { const t = setTimeout(r, input.ms); ctx.signal.addEventListener("abort", () => { clearTimeout(t); r(); }); }); return null; }\n');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function node(name: string, concurrency: number, inspect = false): Promise<ReeveNode> {
  const config = parseConfig(
    {
      node: { concurrency, dataDir: join(dir, name), pollIntervalMs: 50, logLevel: 'warn' },
      inspect,
      agents: { noop: { module: './noop.mjs' }, sleep: { module: './sleep.mjs' } },
    },
    { baseDir: dir },
  );
  return startNode({ config, log });
}

/** The same raw claim+complete ceiling as bench/store.ts. */
function rawCeiling(): number {
  const db = new Database(join(dir, 'raw.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE jobs (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, state TEXT, priority INTEGER, owner TEXT);
           CREATE INDEX jobs_q ON jobs (priority DESC, seq) WHERE state = 'queued';`);
  const insert = db.prepare("INSERT INTO jobs (id, state, priority) VALUES (?, 'queued', 0)");
  db.transaction(() => {
    for (let i = 0; i < N; i++) insert.run(`j${i}`);
  })();
  const claim = db.prepare<[string], { id: string }>("UPDATE jobs SET state = 'running', owner = ? WHERE seq = (SELECT seq FROM jobs WHERE state = 'queued' ORDER BY priority DESC, seq LIMIT 1) RETURNING id");
  const complete = db.prepare("UPDATE jobs SET state = 'done' WHERE id = ? AND owner = ?");
  const start = performance.now();
  for (let row = claim.get('o'); row; row = claim.get('o')) complete.run(row.id, 'o');
  const rate = Math.round((N / (performance.now() - start)) * 1000);
  db.close();
  return rate;
}

async function waitUntil(n: ReeveNode, state: string, count: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (((await n.store.countByState())[state as 'succeeded'] ?? 0) < count) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${count} ${state}`);
    await sleep(250); // a GROUP BY over the whole table: poll gently, it shares the CPU
  }
}

async function throughput(name = 'throughput', inspect = false): Promise<{ rate: number; ms: number; events?: number }> {
  const n = await node(name, 32);
  n.dispatcher.stopClaiming(); // queue everything first, then measure the drain of the backlog
  for (let i = 0; i < N; i += 500) {
    await Promise.all(Array.from({ length: Math.min(500, N - i) }, (_, j) => n.store.submit({ id: `t${i + j}`, kind: 'noop' })));
  }
  await n.drain(0);
  await n.done;
  const again = await node(name, 32, inspect);
  const start = performance.now();
  // One receiver, in this process (its parsing shares the CPU, as a local inspector would).
  let events = 0;
  const receiver = again.inspectUrl ? createWebSocketReceiver({ server: again.inspectUrl }).subscribe(() => events++) : undefined;
  await waitUntil(again, 'succeeded', N, 300_000);
  const ms = performance.now() - start;
  receiver?.unsubscribe();
  await again.drain(0);
  await again.done;
  return { rate: Math.round((N / ms) * 1000), ms: Math.round(ms), ...(inspect ? { events } : {}) };
}

/** Without and with inspection, alternating so both see the same machine load; medians of 3. */
async function inspectionCost(): Promise<{ off: number; on: number; events: number }> {
  const off: number[] = [];
  const on: number[] = [];
  let events = 0;
  for (let round = 0; round < 3; round++) {
    off.push((await throughput(`off-${round}`)).rate);
    const r = await throughput(`on-${round}`, true);
    on.push(r.rate);
    events = r.events ?? 0;
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[1]!;
  console.log(`  rounds (tasks/s): without ${off.join(', ')}; with ${on.join(', ')}`);
  return { off: median(off), on: median(on), events };
}

async function latency(count = 2000, perSecond = 500): Promise<{ p50: number; p99: number }> {
  const n = await node('latency', 32);
  await sleep(500); // let the pool's first thread load
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    ids.push((await n.store.submit({ kind: 'noop' })).task.id);
    n.dispatcher.wake(); // the in-process API path wakes the dispatcher; other processes wait for a poll
    if (i % 10 === 9) await sleep((10 / perSecond) * 1000);
  }
  await waitUntil(n, 'succeeded', count, 120_000);
  const delays: number[] = [];
  for (const id of ids) {
    const task = (await n.store.get(id))!;
    const started = task.history.find((h) => h.to === 'running');
    if (started) delays.push(started.at - task.createdAt);
  }
  delays.sort((a, b) => a - b);
  await n.drain(0);
  await n.done;
  return { p50: delays[Math.floor(delays.length * 0.5)]!, p99: delays[Math.floor(delays.length * 0.99)]! };
}

async function memory(inFlight = 1000): Promise<{ baseMb: number; loadedMb: number; perTaskKb: number; threads: number }> {
  const n = await node('memory', inFlight);
  await n.store.submit({ kind: 'sleep', input: { ms: 1 } });
  await waitUntil(n, 'succeeded', 1, 30_000);
  global.gc?.();
  await sleep(1000);
  const base = process.memoryUsage().rss;
  for (let i = 0; i < inFlight; i++) await n.store.submit({ kind: 'sleep', input: { ms: 60_000 } });
  n.dispatcher.wake();
  await waitUntil(n, 'running', inFlight, 60_000);
  await sleep(2000);
  global.gc?.();
  const loaded = process.memoryUsage().rss;
  await n.drain(0);
  await n.done;
  const threads = Math.min(inFlight, (await import('node:os')).availableParallelism() * 2);
  return { baseMb: Math.round(base / 2 ** 20), loadedMb: Math.round(loaded / 2 ** 20), perTaskKb: Math.round((loaded - base) / 1024 / inFlight), threads };
}

const inspectionLine = (i: { off: number; on: number; events: number }) =>
  `inspection: without ${i.off} tasks/s, with --inspect + 1 receiver ${i.on} tasks/s (${((i.on / i.off) * 100).toFixed(0)} %; ${i.events} events received in the last run)`;

try {
  console.log(`bench/embedded: node ${process.version}, ${N} no-op tasks\n`);
  if (process.argv.includes('--inspect-only')) console.log(inspectionLine(await inspectionCost()));
  else {
    const raw = rawCeiling();
    const t = await throughput();
    console.log(`raw SQLite claim+complete ceiling        ${String(raw).padStart(7)} tasks/s`);
    console.log(`reeve end to end, concurrency 32         ${String(t.rate).padStart(7)} tasks/s  (${((t.rate / raw) * 100).toFixed(0)} % of raw; ${t.ms} ms)`);
    const l = await latency();
    console.log(`submit → start at 500/s (in-process)     p50 ${l.p50} ms, p99 ${l.p99} ms`);
    const m = await memory();
    console.log(`RSS idle ${m.baseMb} MB → ${m.loadedMb} MB with 1,000 sleeping tasks on ${m.threads} threads: ${m.perTaskKb} KB per in-flight task`);
    console.log(inspectionLine(await inspectionCost()));
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
