/**
 * Reeve beside its peers, one command: `npm run bench:peers [-- flags]` (from the repo root).
 * Starts Redis, PostgreSQL and nats-server on free 127.0.0.1 ports in temp dirs (a server that
 * is not installed skips its peers, with a line saying so), runs every workload on every peer in
 * interleaved rounds (each measurement in a fresh process), and prints medians with min/max,
 * then the ratios Reeve/peer with the targets of issue 17; the whole is written as JSON.
 *
 * Flags: --quick (small sizes, 1 round: checks the harness in < 2 min)
 *        --runs N (rounds, default 3)       --only a,b (peers)   --workloads a,b
 *        --json PATH (default bench/peers/results/last.json)
 *        --cpu-prof DIR (every `reeve start` runs under `node --cpu-prof`, profiles in
 *          DIR/<peer>-<workload>/; summarize with bench/peers/profile-summary.mjs)
 * Sizes (env): PEERS_NOOP_N (10000), PEERS_SLEEP_N (2000), PEERS_LATENCY_N (2000),
 *   PEERS_RATE (500), PEERS_INFLIGHT (1000), PEERS_SPAWN_N (1000), PEERS_IO_N (1600),
 *   PEERS_CONCURRENCY (50), PEERS_SPAWN_CONCURRENCY (8).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startNats, startPostgres, startRedis, stopAll } from './lib/servers.mjs';
import { PLAN, SERVER_OF, TARGETS } from './lib/plan.mjs';
import { report } from './lib/report.mjs';

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = resolve(benchDir, '..', '..');
const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    only: { type: 'string' },
    workloads: { type: 'string' },
    json: { type: 'string', default: join(benchDir, 'results', 'last.json') },
    'cpu-prof': { type: 'string' },
  },
});
const env = (name, full, quick) => Number(process.env[name] ?? (flags.quick ? quick : full));
const c = env('PEERS_CONCURRENCY', 50, 50);
const sizes = {
  noop: { n: env('PEERS_NOOP_N', 10_000, 500), concurrency: c },
  sleep: { n: env('PEERS_SLEEP_N', 2000, 200), ms: 5, concurrency: c },
  latency: { count: env('PEERS_LATENCY_N', 2000, 200), rate: env('PEERS_RATE', 500, 500), concurrency: c },
  memory: { inFlight: env('PEERS_INFLIGHT', 1000, 100) },
  spawn: { n: env('PEERS_SPAWN_N', 1000, 100), concurrency: env('PEERS_SPAWN_CONCURRENCY', 8, 8) },
  io: { n: env('PEERS_IO_N', 1600, 160), ms: 50, concurrency: 16 },
};
const runs = Number(flags.runs ?? process.env.PEERS_RUNS ?? (flags.quick ? 1 : 3));
const onlyPeers = flags.only?.split(',');
const onlyWorkloads = flags.workloads?.split(',');
const JOB_TIMEOUT_MS = 15 * 60_000;

for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => process.exit(130)); // exit hooks kill the rest
const jobs = new Set();
process.once('exit', () => {
  for (const pid of jobs) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** One measurement in its own process group; resolves with its result or { error }. */
function runJob(spec) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(benchDir, 'job.mjs'), JSON.stringify(spec)], { cwd: benchDir, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    jobs.add(child.pid);
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err = (err + d).slice(-4000)));
    const timer = setTimeout(() => (err += `\n(killed after ${JOB_TIMEOUT_MS / 1000} s)`, killGroup(child.pid)), JOB_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      killGroup(child.pid); // a `reeve start` or submitter it left behind
      jobs.delete(child.pid);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      resolve(line && code === 0 ? JSON.parse(line.slice(7)) : { error: `exit ${code}: ${err.trim().split('\n').slice(-6).join(' | ')}` });
    });
  });
}

function killGroup(pid) {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

// The peers live in bench/peers/node_modules, never in Reeve's dependencies: installed on first use.
if (!existsSync(join(benchDir, 'node_modules', 'bullmq'))) {
  console.log('bench/peers: installing the peers (npm --prefix bench/peers ci) ...');
  const r = spawnSync('npm', ['--prefix', benchDir, 'ci', '--no-audit', '--no-fund'], { stdio: 'inherit' });
  if (r.status !== 0) throw new Error('npm --prefix bench/peers ci failed');
}
if (!existsSync(join(root, 'dist', 'index.js'))) throw new Error('dist/ is missing: run `npm run build` first (npm run bench:peers does)');

const started = Date.now();
const servers = {};
const skipped = [];
try {
  console.log(`bench/peers: node ${process.version}, ${availableParallelism()} cores, load average ${loadavg()[0].toFixed(1)} at start; ${runs} round(s)${flags.quick ? ' (quick)' : ''}`);
  const wantPeers = new Set(Object.values(PLAN).flat().filter((p) => !onlyPeers || onlyPeers.includes(p)));
  const need = new Set([...wantPeers].map((p) => SERVER_OF[p]).filter(Boolean));
  for (const [name, start] of Object.entries({ redis: startRedis, postgres: startPostgres, nats: startNats })) {
    if (!need.has(name)) continue;
    try {
      const s = await start();
      if (s.skipped) skipped.push(s.skipped);
      else servers[name] = { url: s.url };
    } catch (e) {
      skipped.push(`${name} did not start (${e.message.split('\n')[0]}): its peers skipped`);
    }
  }
  for (const line of skipped) console.log(`skip: ${line}`);
  console.log(`servers: ${Object.entries(servers).map(([k, v]) => `${k} ${v.url}`).join(', ') || 'none'}\n`);

  const results = {}; // "workload/peer" → [result, ...]
  for (let round = 0; round < runs; round++) {
    for (const [workload, peers] of Object.entries(PLAN)) {
      if (onlyWorkloads && !onlyWorkloads.includes(workload)) continue;
      const runnable = peers.filter((p) => wantPeers.has(p) && (!SERVER_OF[p] || servers[SERVER_OF[p]]));
      // Rotate the order every round so drift of the machine's load hits every peer alike.
      const order = runnable.map((_, i) => runnable[(i + round) % runnable.length]);
      for (const peer of order) {
        const spec = { peer, workload, params: sizes[workload], servers, root, benchDir, ...(flags['cpu-prof'] && peer.startsWith('reeve-') ? { cpuProfDir: resolve(flags['cpu-prof'], `${peer}-${workload}`) } : {}) };
        const t0 = Date.now();
        const r = await runJob(spec);
        (results[`${workload}/${peer}`] ??= []).push(r);
        const shown = r.error ? `ERROR ${r.error}` : 'p99' in r ? `p50 ${r.p50} ms, p99 ${r.p99} ms` : `${r.value}`;
        console.log(`  round ${round + 1}/${runs} ${workload.padEnd(8)} ${peer.padEnd(17)} ${shown}  (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
      }
    }
  }
  const summary = report({ results, sizes, runs, skipped, targets: TARGETS, load: loadavg()[0], seconds: Math.round((Date.now() - started) / 1000) });
  mkdirSync(dirname(flags.json), { recursive: true });
  writeFileSync(flags.json, JSON.stringify(summary, null, 2));
  console.log(`\nJSON: ${flags.json}`);
} finally {
  await stopAll();
}
