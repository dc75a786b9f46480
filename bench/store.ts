/**
 * Store throughput, side by side in one run:
 *  - raw:   the better-sqlite3 ceiling, a bare conditional UPDATE claim + complete per job;
 *  - port:  SqliteTaskStore claim(limit 1) + transition(succeeded) per task;
 *  - claims alone: N single claims vs claims of 32 at once in one transaction.
 * All on WAL; durability NORMAL (default) and FULL.  Run: npm run bench:store [-- N]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteTaskStore } from '../src/store/sqlite/sqlite-task-store.ts';

const N = Number(process.argv[2] ?? 10_000);
const BATCH = 32;
const owner = 'bench:1';
const dir = mkdtempSync(join(tmpdir(), 'reeve-bench-'));
let fileNo = 0;
const freshPath = () => join(dir, `b${fileNo++}.db`);

function rate(count: number, ms: number): number {
  return Math.round((count / ms) * 1000);
}

function raw(durability: 'NORMAL' | 'FULL'): number {
  const db = new Database(freshPath());
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${durability}`);
  db.exec(`CREATE TABLE jobs (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, state TEXT, priority INTEGER, owner TEXT);
           CREATE INDEX jobs_q ON jobs (priority DESC, seq) WHERE state = 'queued';`);
  const insert = db.prepare("INSERT INTO jobs (id, state, priority) VALUES (?, 'queued', 0)");
  db.transaction(() => {
    for (let i = 0; i < N; i++) insert.run(`j${i}`);
  })();
  const claim = db.prepare<[string], { id: string }>(
    "UPDATE jobs SET state = 'running', owner = ? WHERE seq = (SELECT seq FROM jobs WHERE state = 'queued' ORDER BY priority DESC, seq LIMIT 1) RETURNING id",
  );
  const complete = db.prepare("UPDATE jobs SET state = 'done' WHERE id = ? AND owner = ? AND state = 'running'");
  const start = performance.now();
  for (;;) {
    const row = claim.get(owner);
    if (!row) break;
    complete.run(row.id, owner);
  }
  const ms = performance.now() - start;
  db.close();
  return rate(N, ms);
}

async function seeded(durability: 'normal' | 'full') {
  const store = openSqliteTaskStore({ path: freshPath(), durability });
  for (let i = 0; i < N; i += 1000) {
    await Promise.all(Array.from({ length: Math.min(1000, N - i) }, (_, j) => store.submit({ id: `t${i + j}`, kind: 'noop' })));
  }
  return store;
}

async function port(durability: 'normal' | 'full'): Promise<number> {
  const store = await seeded(durability);
  const start = performance.now();
  for (;;) {
    const [task] = await store.claim({ owner, limit: 1, leaseTtlMs: 15_000 });
    if (!task) break;
    await store.transition({ id: task.id, revision: task.revision, owner, to: 'succeeded', reason: 'done', result: null });
  }
  const ms = performance.now() - start;
  await store.close();
  return rate(N, ms);
}

/** The runtime's way: claim a batch for free slots, complete them in one group commit. */
async function portBatched(durability: 'normal' | 'full'): Promise<number> {
  const store = await seeded(durability);
  const start = performance.now();
  for (;;) {
    const tasks = await store.claim({ owner, limit: BATCH, leaseTtlMs: 15_000 });
    if (tasks.length === 0) break;
    await store.transitionMany(
      tasks.map((t) => ({ id: t.id, revision: t.revision, owner, to: 'succeeded' as const, reason: 'done', result: null })),
    );
  }
  const ms = performance.now() - start;
  await store.close();
  return rate(N, ms);
}

async function claimsOnly(limit: number): Promise<number> {
  const store = await seeded('normal');
  const start = performance.now();
  let claimed = 0;
  while (claimed < N) {
    const got = await store.claim({ owner, limit, leaseTtlMs: 15_000 });
    if (got.length === 0) break;
    claimed += got.length;
  }
  const ms = performance.now() - start;
  await store.close();
  return rate(claimed, ms);
}

function row(label: string, value: number, baseline?: number): string {
  const ratio = baseline ? `${((value / baseline) * 100).toFixed(0).padStart(4)} % of raw` : '';
  return `${label.padEnd(48)} ${String(value).padStart(8)} tasks/s  ${ratio}`;
}

try {
  console.log(`bench/store: ${N} tasks per run, WAL, node ${process.version}\n`);
  for (const durability of ['normal', 'full'] as const) {
    const rawRate = raw(durability === 'normal' ? 'NORMAL' : 'FULL');
    const portRate = await port(durability);
    const batchedRate = await portBatched(durability);
    console.log(`synchronous=${durability.toUpperCase()}`);
    console.log(row('  raw better-sqlite3 claim + complete, per job', rawRate));
    console.log(row('  TaskStore claim(1) + transition, per task', portRate, rawRate));
    console.log(row(`  TaskStore claim(${BATCH}) + transitionMany(${BATCH})`, batchedRate, rawRate));
  }
  const single = await claimsOnly(1);
  const batched = await claimsOnly(BATCH);
  console.log('\nclaims alone (synchronous=NORMAL)');
  console.log(row('  claim(limit 1), one transaction per task', single));
  console.log(row(`  claim(limit ${BATCH}), one transaction per ${BATCH}`, batched));
  console.log(`  batch speed-up per task: ${(batched / single).toFixed(1)}x`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
