/**
 * Command-agent overhead per run, side by side in one run (target from issue 5: Reeve's
 * CommandRunner ≤ 1.5× a bare execa spawn of `/bin/true`).
 *  - bare execa:          `await execa('/bin/true')`, the baseline;
 *  - CommandRunner:       a `{ type: 'command', command: ['/bin/true'] }` run, as the node runs it;
 * and, to show where the difference goes:
 *  - child_process.spawn: the floor under execa;
 *  - execa detached:      the baseline plus a process group of its own;
 *  - execa as runner:     execa with the runner's exact options, without the runner around it.
 * Runs are sequential (each awaited before the next); each variant first gets 20 warm-up runs,
 * then the variants take turns in rounds so that machine drift hits them alike. Last, the cost
 * of the per-run log (src/pool/run-log.ts) for 10 MB of output.
 *   Run: npx tsx bench/spawn.ts [N]   (N runs per variant, default 300)
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { CommandRunner } from '../src/pool/command-runner.ts';
import { isLiveStat, listPids, processesIn, readProcStat } from '../src/pool/proc.ts';
import { openRunLog } from '../src/pool/run-log.ts';
import type { Logger } from '../src/ports/logger.ts';
import type { RunRequest } from '../src/ports/runner.ts';
import { systemClock } from '../src/platform/system-clock.ts';

const N = Number(process.argv[2] ?? 300);
const WARMUP = 20;
const ROUNDS = 5;
const PROGRAM = '/bin/true';
if (!Number.isInteger(N) || N < ROUNDS) throw new Error(`N must be an integer ≥ ${ROUNDS} (got ${process.argv[2]})`);

const dir = mkdtempSync(join(tmpdir(), 'reeve-bench-spawn-'));
const noop = () => {};
const logger: Logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => logger };
// No process registry: its cost belongs to the store that backs it (bench/store.ts), not to spawning.
const runner = new CommandRunner({ clock: systemClock, envAllowList: ['PATH', 'HOME', 'LANG'], logDir: join(dir, 'logs'), secrets: ['sk-bench-secret'] });
const request: RunRequest = {
  taskId: 't_bench',
  kind: 'bench',
  step: 'run',
  attempt: 1,
  phase: 'run',
  handler: { type: 'command', command: [PROGRAM], stdin: 'none' },
  input: null,
  steps: {},
  workspace: join(dir, 'workspace'),
  signal: new AbortController().signal,
  killGraceMs: 1000,
  retryOn: [],
  onHeartbeat: noop,
  log: logger,
};
const runnerEnv = {
  PATH: process.env.PATH ?? '',
  HOME: process.env.HOME ?? '',
  REEVE_TASK_ID: 't_bench',
  REEVE_STEP: 'run',
  REEVE_ATTEMPT: '1',
  REEVE_WORKSPACE: request.workspace,
  REEVE_RUN_ID: 't_bench.00000000',
};

interface Variant {
  name: string;
  once(): Promise<unknown>;
  ms: number;
}
const variants: Variant[] = [
  { name: 'bare execa', once: () => execa(PROGRAM), ms: 0 },
  {
    name: 'CommandRunner',
    once: async () => {
      const outcome = await runner.run(request);
      if (!outcome.ok) throw new Error(`bench run failed: ${outcome.failure.message}`);
    },
    ms: 0,
  },
  { name: 'child_process.spawn', once: () => new Promise((resolve, reject) => spawn(PROGRAM, { stdio: 'ignore' }).on('close', resolve).on('error', reject)), ms: 0 },
  { name: 'execa detached', once: () => execa(PROGRAM, { detached: true }), ms: 0 },
  {
    name: 'execa as runner',
    once: async () => {
      const child = execa(PROGRAM, [], { cwd: request.workspace, env: runnerEnv, extendEnv: false, detached: true, reject: false, stdin: 'ignore', buffer: false });
      child.stdout?.on('data', noop);
      child.stderr?.on('data', noop);
      await child;
    },
    ms: 0,
  },
];

async function main(): Promise<void> {
  for (const v of variants) for (let i = 0; i < WARMUP; i++) await v.once();
  const perRound = Math.ceil(N / ROUNDS);
  for (let done = 0; done < N; done += perRound) {
    const count = Math.min(perRound, N - done);
    for (const v of variants) {
      const start = performance.now();
      for (let i = 0; i < count; i++) await v.once();
      v.ms += performance.now() - start;
    }
  }
  const base = variants[0]!.ms;
  console.log(`spawn overhead per run, ${N} sequential runs of ${PROGRAM} each (node ${process.version}, ${WARMUP} warm-up runs)`);
  console.log(`${'variant'.padEnd(22)}${'runs/s'.padStart(8)}${'µs/run'.padStart(10)}${'× bare'.padStart(9)}`);
  for (const v of variants) {
    const us = (v.ms * 1000) / N;
    console.log(`${v.name.padEnd(22)}${Math.round((N / v.ms) * 1000).toString().padStart(8)}${Math.round(us).toString().padStart(10)}${(v.ms / base).toFixed(2).padStart(9)}`);
  }
  const [bare, run, , detached, asRunner] = variants.map((v) => (v.ms * 1000) / N) as [number, number, number, number, number];
  const verdict = run / bare <= 1.5 ? 'within' : 'OVER';
  console.log(`\nCommandRunner / bare execa = ${(run / bare).toFixed(2)}× (${verdict} the 1.5× target)`);
  const parts = runnerParts();
  const explained = parts.reduce((sum, [, us]) => sum + us, 0);
  console.log('where the extra time goes, µs per run:');
  console.log(`  own process group (detached)             ${fmt(detached - bare)}`);
  console.log(`  runner's other execa options             ${fmt(asRunner - detached)}  (small env, cwd, stdin ignore, buffer:false)`);
  for (const [what, us] of parts) console.log(`  ${what.padEnd(39)}  ${fmt(us)}  (timed alone)`);
  console.log(`  rest of the runner (promises, timers…)   ${fmt(run - asRunner - explained)}`);
  await runLogCost();
}

async function runLogCost(): Promise<void> {
  const chunk = Buffer.from(`${'lorem ipsum dolor sit amet '.repeat(3)}\n`.repeat(800)); // ~64 KiB, like a pipe read
  const total = 10 * 1024 * 1024;
  for (const secrets of [[], ['sk-live-0123456789abcdef', 'ghp_abcdefghijklmnopqrstuvwxyz0123']]) {
    let failure: Error | undefined;
    const log = openRunLog({ dir: join(dir, 'logs'), runId: `r${secrets.length}`, secrets, onError: (err) => (failure = err) });
    const start = performance.now();
    for (let written = 0; written < total; written += chunk.length) log.write('stdout', chunk);
    await log.close();
    const ms = performance.now() - start;
    if (failure) throw failure;
    console.log(`\nrun log: 10 MiB in ${Math.round(chunk.length / 1024)} KiB chunks, ${secrets.length} secrets, 5 MiB rotation: ${ms.toFixed(1)} ms (${Math.round(total / 1024 / 1024 / (ms / 1000))} MiB/s)`);
  }
}

/** Times, alone, the steps CommandRunner.run adds around the spawn. */
function runnerParts(): Array<[string, number]> {
  const time = (count: number, f: () => unknown) => {
    for (let i = 0; i < 20; i++) f();
    const start = performance.now();
    for (let i = 0; i < count; i++) f();
    return ((performance.now() - start) * 1000) / count;
  };
  const hostProcesses = listPids().length;
  // The runner walks /proc twice per run: on the child's exit and before clearing the run.
  const walk = time(N, () => processesIn({ pgid: 0x7ffffffe, sid: 0x7ffffffe }).some(isLiveStat));
  const stat = time(N, () => readProcStat(process.pid));
  let n = 0;
  const log = time(N, () => void openRunLog({ dir: join(dir, 'parts'), runId: `p${n++}`, secrets: ['sk-bench-secret'] }).close());
  return [
    [`2 × /proc walk (${hostProcesses} processes on host)`, 2 * walk],
    ['/proc/<pid>/stat of the child', stat],
    ['run log open + close (empty)', log],
  ];
}

function fmt(us: number): string {
  return `${us >= 0 ? '+' : ''}${Math.round(us)}`.padStart(6);
}

try {
  await main();
} finally {
  await runner.close();
  rmSync(dir, { recursive: true, force: true });
}
