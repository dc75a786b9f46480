import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteTaskStore } from '../src/store/sqlite/sqlite-task-store.ts';
import { emptyFigures, Findings, note, type Figures } from './lib/figures.ts';
import { listingGaps } from './lib/listing.ts';
import { fixture, killMarked, MARK, runCli, sleep, startNode, type NodeProc } from './lib/procs.ts';
import type { Rng } from './lib/rng.ts';
import { checkSurvivors, checkTasks, runsByTask, settle } from './lib/verify.ts';

export interface EmbeddedSize {
  /** kill -9 rounds of the node's process group. */
  kills: number;
  /** A submission every this many ms while the rounds run. */
  submitEveryMs: number;
  /** How long the node lives in a round: [min, max] ms. */
  upMs: [number, number];
  reapIntervalMs: number;
  /** How long the last node may go without finishing a task before the scenario stops waiting (see settle). */
  settleMs: number;
}

const KILL_GRACE_MS = 500;
/** CHAOS_ROLE of this scenario's agent processes (scenarios may run side by side). */
const ROLE = 'agent-embedded';

/** The kinds: a quick module, a slow-heartbeating module, a command whose tree outlives its root. */
function config(size: EmbeddedSize) {
  const env = { CHAOS_MARK: MARK, CHAOS_ROLE: ROLE };
  return {
    node: { concurrency: 6, pollIntervalMs: 50, leaseTtlMs: 3000, sweepIntervalMs: 250, reapIntervalMs: size.reapIntervalMs, drainTimeoutMs: 3000, crashLimit: 20, logLevel: 'warn' },
    agents: {
      quick: { module: fixture('works.ts'), crashLimit: 20 },
      slowbeat: { module: fixture('works.ts'), heartbeatTimeoutMs: 5000, crashLimit: 20 },
      orphans: { command: ['sh', fixture('orphan-tree.sh'), '{{input.log}}', '{{input.secs}}'], env, killGraceMs: KILL_GRACE_MS, stdin: 'none', crashLimit: 20 },
    },
  };
}

/**
 * (a) One embedded node (`reeve start`, its own process group) killed with SIGKILL again and
 * again while a steady stream of submissions goes into its SQLite store; then a last node
 * finishes everything, and two reap periods later no agent process of any run may be left.
 */
export async function embeddedScenario(size: EmbeddedSize, r: Rng): Promise<{ figures: Figures; findings: Findings }> {
  const findings = new Findings('embedded');
  const figures = emptyFigures();
  const dir = mkdtempSync(join(tmpdir(), 'reeve-chaos-embedded-'));
  const runsLog = join(dir, 'runs.log');
  writeFileSync(join(dir, 'reeve.config.json'), JSON.stringify(config(size), null, 2));
  const store = openSqliteTaskStore({ path: join(dir, '.reeve', 'reeve.db') });
  const acked: string[] = [];
  let streaming = true;
  let n = 0;
  const stream = (async () => {
    while (streaming) {
      const id = `e-${n++}`;
      const kind = r.pick(['quick', 'quick', 'slowbeat', 'orphans', 'orphans'] as const);
      const input =
        kind === 'quick' ? { log: runsLog, ms: r.int(20, 400) } : kind === 'slowbeat' ? { log: runsLog, ms: r.int(1500, 3500), beatMs: 1000 } : { log: runsLog, secs: String(r.int(1, 3)) };
      try {
        await store.submit({ id, kind, input });
        acked.push(id);
      } catch (err) {
        note('embedded', `submit ${id} not acknowledged: ${(err as Error).message}`);
      }
      await sleep(size.submitEveryMs);
    }
  })();
  let node: NodeProc | undefined;
  const crashed = (p: NodeProc, when: string) => {
    figures.nodeCrashes++;
    findings.add(`node exited by itself ${when} (${String(p.child.exitCode ?? p.child.signalCode)}): ${p.stderr().trim().split('\n').slice(-3).join(' | ')}`);
  };
  try {
    for (let round = 1; round <= size.kills; round++) {
      node = startNode(dir);
      await sleep(r.int(size.upMs[0], size.upMs[1]));
      if (!node.running()) crashed(node, `in round ${round}`);
      else {
        await node.kill9();
        figures.kills++;
      }
      figures.rounds++;
      if (round % 10 === 0) note('embedded', `${round}/${size.kills} kills, ${acked.length} submitted`);
    }
    streaming = false;
    await stream;
    node = startNode(dir);
    const records = await settle(acked, (id) => store.get(id), size.settleMs);
    // Every run has ended: two reap periods (and the kill grace) for the reaper to act.
    await sleep(2 * size.reapIntervalMs + KILL_GRACE_MS + 1000);
    if (!node.running()) crashed(node, 'after the last round');
    Object.assign(figures, { ...figures, ...checkTasks(records, runsByTask(runsLog), findings) });
    Object.assign(figures, checkSurvivors(ROLE, findings));
    Object.assign(figures, await listingGaps((args) => runCli(dir, args, { timeoutMs: 60_000 }), acked, findings));
    const code = await node.stop();
    if (code !== 0 && !findings.lines.some((l) => l.includes('after the last round'))) findings.add(`the last node's drain exited ${code}: ${node.stderr().trim().split('\n').slice(-2).join(' | ')}`);
  } finally {
    streaming = false;
    await stream;
    if (node?.running()) await node.kill9();
    killMarked(ROLE);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return { figures, findings };
}
