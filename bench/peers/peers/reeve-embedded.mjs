/**
 * Reeve embedded: tasks queued through the public client API into the node's SQLite store,
 * run by `reeve start` (the real CLI) with the product's defaults (WAL, synchronous NORMAL,
 * every state change written). Figures come from the task records: first `running` to last
 * `succeeded` in each task's history; submit → start is `running`.at − createdAt.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { percentiles, rssKb, sleep, spanRate, waitFor } from '../lib/common.mjs';
import { client, cleanEnv, startEnd, startNode, submitAll, writeProject } from '../lib/reeve-proc.mjs';

function project(ctx, concurrency) {
  const dir = join(ctx.dir, 'project');
  writeProject(dir, { node: { concurrency, dataDir: '.reeve', logLevel: 'warn' } });
  return { dir, db: join(dir, '.reeve', 'reeve.db') };
}

/** Counts by state straight from the file, read-only: a light poll beside the running node. */
function counter(dbPath) {
  const db = new Database(dbPath, { readonly: true, fileMustExist: true });
  const stmt = db.prepare('SELECT count(*) AS n FROM tasks WHERE state = ?');
  return { count: (state) => stmt.get(state).n, close: () => db.close() };
}

async function records(c, ids) {
  const out = [];
  for (let i = 0; i < ids.length; i += 200) out.push(...(await Promise.all(ids.slice(i, i + 200).map((id) => c.get(id)))));
  return out;
}

/** Queue `n` tasks of `kind` first, then start the node and time the drain from the records. */
async function drainBacklog(ctx, { n, concurrency, kind, input }) {
  const p = project(ctx, concurrency);
  const c = await client(ctx, p.dir);
  let node;
  try {
    const ids = await submitAll(c, n, { kind, ...(input ? { input } : {}) });
    node = startNode(ctx, p.dir);
    const db = counter(p.db);
    try {
      await waitFor(`${n} succeeded`, () => (node.check(), db.count('succeeded') >= n), { everyMs: 500 });
    } finally {
      db.close();
    }
    await node.stop();
    const recs = await records(c, ids);
    const bad = recs.filter((r) => r?.state !== 'succeeded');
    if (bad.length > 0) throw new Error(`${bad.length} tasks not succeeded, e.g. ${JSON.stringify(bad[0])}`);
    const se = recs.map(startEnd);
    return spanRate(se.map((x) => x.start), se.map((x) => x.end), n);
  } finally {
    await node?.stop('SIGKILL');
    await c.close();
  }
}

/** Submits from another OS process (a client of its own), at a fixed rate. */
function submitter(ctx, dir, count, rate) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(ctx.benchDir, 'lib', 'submitter.mjs'), ctx.root, dir, String(count), String(rate)], { cwd: dir, env: cleanEnv(), stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`submitter exited ${code}: ${stderr}`))));
  });
}

export const workloads = {
  noop: (p, ctx) => drainBacklog(ctx, { ...p, kind: 'noop' }),
  sleep: (p, ctx) => drainBacklog(ctx, { ...p, kind: 'sleep', input: { ms: p.ms } }),
  /** Command agents: `/bin/true` as a Reeve command task (spawn workload). */
  spawn: (p, ctx) => drainBacklog(ctx, { ...p, kind: 'true' }),
  async latency({ count, rate, concurrency }, ctx) {
    const p = project(ctx, concurrency);
    const c = await client(ctx, p.dir);
    await c.submit({ id: 'warm', kind: 'noop' });
    const node = startNode(ctx, p.dir);
    try {
      await c.wait('warm');
      await sleep(500);
      await submitter(ctx, p.dir, count, rate);
      const db = counter(p.db);
      try {
        await waitFor(`${count} succeeded`, () => (node.check(), db.count('succeeded') >= count + 1), { everyMs: 250 });
      } finally {
        db.close();
      }
      const recs = (await c.list({ state: 'succeeded', limit: count + 1 })).filter((r) => r.id !== 'warm');
      return percentiles(recs.map((r) => startEnd(r).start - r.createdAt));
    } finally {
      await node.stop('SIGKILL');
      await c.close();
    }
  },
  async memory({ inFlight }, ctx) {
    const p = project(ctx, inFlight);
    const c = await client(ctx, p.dir);
    await c.submit({ id: 'warm', kind: 'sleep', input: { ms: 1 } });
    const node = startNode(ctx, p.dir);
    try {
      await c.wait('warm');
      await sleep(1000);
      const idle = rssKb(node.pid);
      await submitAll(c, inFlight, { kind: 'sleep', input: { ms: 120_000 } });
      const db = counter(p.db);
      try {
        await waitFor(`${inFlight} running`, () => (node.check(), db.count('running') >= inFlight), { timeoutMs: 120_000 });
      } finally {
        db.close();
      }
      await sleep(2000);
      const loaded = rssKb(node.pid);
      return { value: Math.round((loaded - idle) / inFlight), idleMb: Math.round(idle / 1024), loadedMb: Math.round(loaded / 1024) };
    } finally {
      await node.stop('SIGKILL');
      await c.close();
    }
  },
};
