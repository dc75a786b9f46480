import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { observe, publishRetrying, untilNodesUp, type Observer } from '../test/support/cluster.ts';
import { startNatsCluster, type NatsCluster } from '../test/support/nats-server.ts';
import { emptyFigures, Findings, note, type Figures } from './lib/figures.ts';
import { listingGaps } from './lib/listing.ts';
import { fixture, killMarked, MARK, runCli, sleep, startNode, type NodeProc } from './lib/procs.ts';
import type { Rng } from './lib/rng.ts';
import { checkSurvivors, checkTasks, runsByTask, settle } from './lib/verify.ts';

export interface ClusterSize {
  /** Kills in all, nodes and servers. */
  kills: number;
  /** Of which at least this many are nats-server kills. */
  serverKills: number;
  publishEveryMs: number;
  /** Time between two kills: [min, max] ms. */
  upMs: [number, number];
  /** How long a killed node or server stays down: [min, max] ms. */
  downMs: [number, number];
  /** How long the nodes may go without finishing a task before the scenario stops waiting (see settle). */
  settleMs: number;
}

const NODE_IDS = ['n1', 'n2', 'n3'];
const REAP_MS = 1000;
const BUCKET = 'reeve-tasks';
const ROLE = 'agent-cluster';

function config(urls: string[]) {
  const env = { CHAOS_MARK: MARK, CHAOS_ROLE: ROLE };
  return {
    node: { concurrency: 4, pollIntervalMs: 50, leaseTtlMs: 3000, sweepIntervalMs: 250, reapIntervalMs: REAP_MS, drainTimeoutMs: 3000, crashLimit: 20, logLevel: 'warn' },
    store: { type: 'nats', bucket: BUCKET },
    nats: { servers: urls, replicas: 3 },
    agents: {
      quick: { module: fixture('works.ts'), crashLimit: 20 },
      slowbeat: { module: fixture('works.ts'), heartbeatTimeoutMs: 5000, crashLimit: 20 },
      orphans: { command: ['sh', fixture('orphan-tree.sh'), '{{input.log}}', '{{input.secs}}'], env, killGraceMs: 500, stdin: 'none', crashLimit: 20 },
    },
  };
}

/** `serverKills` server kills and the rest node kills (a quarter of those servers too), shuffled. */
function schedule(size: ClusterSize, r: Rng): Array<'node' | 'server'> {
  const kinds: Array<'node' | 'server'> = [];
  for (let i = 0; i < size.kills; i++) kinds.push(i < size.serverKills ? 'server' : r.chance(0.25) ? 'server' : 'node');
  for (let i = kinds.length - 1; i > 0; i--) {
    const j = r.int(0, i);
    [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
  }
  return kinds;
}

/**
 * (b) Three nats-servers (R3 stream and KV) and three nodes; kill -9 at random of a node's
 * process group (restarted after a pause) or of a server (restarted on its port and store),
 * one at a time, while submissions are published through JetStream on `reeve.submit`.
 */
export async function clusterScenario(size: ClusterSize, r: Rng): Promise<{ figures: Figures; findings: Findings }> {
  const findings = new Findings('cluster');
  const figures = emptyFigures();
  const dir = mkdtempSync(join(tmpdir(), 'reeve-chaos-cluster-'));
  const runsLog = join(dir, 'runs.log');
  let cluster: NatsCluster | undefined;
  let observer: Observer | undefined;
  const nodes = new Map<string, NodeProc>();
  const start = (id: string) => nodes.set(id, startNode(dir, { REEVE_NODE__ID: id, REEVE_NODE__DATADIR: `.reeve-${id}` }));
  const cli = (args: string[]) => runCli(dir, args, { timeoutMs: 60_000 });
  /** Nodes that exited without being killed: counted, reported, started again. */
  const reviveCrashed = (when: string) => {
    for (const [id, node] of nodes) {
      if (node.running() || node.killedByUs) continue;
      figures.nodeCrashes++;
      findings.add(`node ${id} exited by itself ${when} (${String(node.child.exitCode ?? node.child.signalCode)}): ${lastLines(node.stderr())}`);
      start(id);
    }
  };
  const acked: string[] = [];
  let publishing = true;
  let publisher: Promise<void> = Promise.resolve();
  try {
    cluster = await startNatsCluster(3);
    writeFileSync(join(dir, 'reeve.config.json'), JSON.stringify(config(cluster.urls), null, 2));
    for (const id of NODE_IDS) start(id);
    const statusCli = async (args: string[]) => {
      const run = await cli(args);
      return { ...run, code: typeof run.code === 'number' ? run.code : null };
    };
    await untilNodesUp({ cli: statusCli }, NODE_IDS, 60_000);
    observer = await observe(cluster.urls, BUCKET, { replicas: 3 });
    const js = observer.js;
    publisher = (async () => {
      for (let n = 0; publishing; n++) {
        const id = `c-${n}`;
        const kind = r.pick(['quick', 'quick', 'quick', 'slowbeat', 'orphans'] as const);
        const input = kind === 'quick' ? { log: runsLog, ms: r.int(20, 400) } : kind === 'slowbeat' ? { log: runsLog, ms: r.int(1500, 3500), beatMs: 1000 } : { log: runsLog, secs: String(r.int(1, 3)) };
        try {
          await publishRetrying(js, 'reeve.submit', JSON.stringify({ id, kind, input }), id, 30_000);
          acked.push(id);
        } catch (err) {
          note('cluster', `publish ${id} not acknowledged: ${(err as Error).message}`);
        }
        await sleep(size.publishEveryMs);
      }
    })();
    for (const [round, what] of schedule(size, r).entries()) {
      await sleep(r.int(size.upMs[0], size.upMs[1]));
      reviveCrashed(`before kill ${round + 1}`);
      if (what === 'node') {
        const id = r.pick(NODE_IDS);
        await nodes.get(id)!.kill9();
        await sleep(r.int(size.downMs[0], size.downMs[1]));
        start(id);
      } else {
        const server = r.pick(cluster.servers);
        await server.kill9();
        figures.serverKills++;
        await sleep(r.int(size.downMs[0], size.downMs[1]));
        await server.restart();
      }
      figures.kills++;
      figures.rounds++;
      if ((round + 1) % 5 === 0) note('cluster', `${round + 1}/${size.kills} kills (${figures.serverKills} servers), ${acked.length} published`);
    }
    publishing = false;
    await publisher;
    await sleep(3000);
    reviveCrashed('after the last kill');
    const records = await settle(acked, (id) => observer!.store.get(id), size.settleMs);
    await sleep(2 * REAP_MS + 1500);
    reviveCrashed('while settling');
    Object.assign(figures, checkTasks(records, runsByTask(runsLog), findings));
    Object.assign(figures, checkSurvivors(ROLE, findings));
    Object.assign(figures, await listingGaps(cli, acked, findings));
    for (const [id, node] of nodes) {
      if (!node.running()) continue;
      const code = await node.stop();
      if (code !== 0) findings.add(`node ${id}'s drain exited ${code}: ${lastLines(node.stderr())}`);
    }
  } finally {
    publishing = false;
    await publisher;
    await Promise.all([...nodes.values()].map((n) => (n.running() ? n.kill9() : Promise.resolve())));
    await observer?.close().catch(() => undefined);
    await cluster?.stop();
    killMarked(ROLE);
    rmSync(dir, { recursive: true, force: true });
  }
  return { figures, findings };
}

export function lastLines(text: string, n = 3): string {
  return text.trim().split('\n').slice(-n).join(' | ').slice(0, 600);
}
