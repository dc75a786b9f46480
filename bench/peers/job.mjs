/**
 * One measurement in a fresh process: `node job.mjs '<json spec>'`, the spec being
 * { peer, workload, params, servers, root, benchDir, cpuProfDir? }. Prints `RESULT <json>`.
 * A process per measurement keeps RSS figures and crashes apart; run.mjs kills its process
 * group when it is done or too slow, which takes any `reeve start` it spawned along.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MODULES = {
  'bullmq-inline': ['bullmq.mjs', (m) => m.workloads('inline')],
  'bullmq-sandboxed': ['bullmq.mjs', (m) => m.workloads('sandboxed')],
  'pg-boss': ['pg-boss.mjs', (m) => m.workloads],
  'graphile-worker': ['graphile-worker.mjs', (m) => m.workloads],
  'raw-sqlite': ['raw-sqlite.mjs', (m) => m.workloads],
  'raw-jetstream': ['raw-jetstream.mjs', (m) => m.workloads],
  'bare-execa': ['bare-execa.mjs', (m) => m.workloads],
  'reeve-embedded': ['reeve-embedded.mjs', (m) => m.workloads],
  'reeve-cluster-1': ['reeve-cluster.mjs', (m) => m.workloads(1)],
  'reeve-cluster-2': ['reeve-cluster.mjs', (m) => m.workloads(2)],
};

const spec = JSON.parse(process.argv[2]);
const [file, pick] = MODULES[spec.peer];
const workloads = pick(await import(`./peers/${file}`));
const dir = mkdtempSync(join(tmpdir(), `peers-${spec.peer}-`));
try {
  const result = await workloads[spec.workload](spec.params, { ...spec, dir });
  console.log(`RESULT ${JSON.stringify(result)}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0); // clients (ioredis, pg pools) may hold the loop open after close
