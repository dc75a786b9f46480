/**
 * pg-boss 10 on PostgreSQL. Concurrency is a worker fetching `concurrency` jobs per batch and
 * running them together (pg-boss 10 has no per-job concurrency); it polls every 0.5 s, its
 * minimum. Figures come from the job rows: started_on, completed_on, created_on.
 */
import PgBoss from 'pg-boss';
import { paced, percentiles, rssKb, sleep, spanRate, waitFor } from '../lib/common.mjs';

async function open(ctx) {
  const boss = new PgBoss({ connectionString: ctx.servers.postgres.url, schema: `b${process.pid}`, max: 10, supervise: false, schedule: false, migrate: true });
  boss.on('error', (e) => console.error('pg-boss:', e.message));
  await boss.start();
  const name = 'q';
  await boss.createQueue(name);
  const schema = `b${process.pid}`;
  const count = async (state) => (await boss.getDb().executeSql(`SELECT count(*)::int AS n FROM ${schema}.job WHERE name = $1 AND state = $2`, [name, state])).rows[0].n;
  const rows = async () => (await boss.getDb().executeSql(`SELECT (extract(epoch from created_on) * 1000)::float8 AS created, (extract(epoch from started_on) * 1000)::float8 AS started, (extract(epoch from completed_on) * 1000)::float8 AS completed, data FROM ${schema}.job WHERE name = $1 AND state = 'completed'`, [name])).rows;
  const close = async () => {
    await boss.stop({ graceful: false, wait: true, close: true }).catch(() => {});
  };
  return { boss, name, count, rows, close };
}

function work(q, concurrency, ms) {
  return q.boss.work(q.name, { batchSize: concurrency, pollingIntervalSeconds: 0.5 }, async (jobs) => {
    await Promise.all(jobs.map((j) => ((j.data?.ms ?? ms) ? sleep(j.data?.ms ?? ms) : null)));
  });
}

async function drainBacklog(ctx, { n, concurrency, ms }) {
  const q = await open(ctx);
  try {
    for (let i = 0; i < n; i += 1000) await q.boss.insert(Array.from({ length: Math.min(1000, n - i) }, () => ({ name: q.name, data: ms ? { ms } : {} })));
    await work(q, concurrency);
    await waitFor(`${n} completed`, async () => (await q.count('completed')) >= n, { everyMs: 250, timeoutMs: 900_000 });
    const rows = await q.rows();
    return spanRate(rows.map((r) => r.started), rows.map((r) => r.completed), n);
  } finally {
    await q.close();
  }
}

export const workloads = {
  noop: (p, ctx) => drainBacklog(ctx, p),
  sleep: (p, ctx) => drainBacklog(ctx, p),
  /** Jobs sent at a fixed rate from the same process: started_on − created_on. */
  async latency({ count, rate, concurrency }, ctx) {
    const q = await open(ctx);
    try {
      await work(q, concurrency);
      await paced(count, rate, () => q.boss.send(q.name, {}));
      await waitFor(`${count} completed`, async () => (await q.count('completed')) >= count, { everyMs: 250 });
      return percentiles((await q.rows()).map((r) => r.started - r.created));
    } finally {
      await q.close();
    }
  },
  async memory({ inFlight }, ctx) {
    const q = await open(ctx);
    try {
      await work(q, inFlight);
      await q.boss.send(q.name, { ms: 1 });
      await waitFor('warm-up', async () => (await q.count('completed')) >= 1);
      await sleep(1000);
      const idle = rssKb();
      for (let i = 0; i < inFlight; i += 1000) await q.boss.insert(Array.from({ length: Math.min(1000, inFlight - i) }, () => ({ name: q.name, data: { ms: 120_000 } })));
      await waitFor(`${inFlight} active`, async () => (await q.count('active')) >= inFlight, { timeoutMs: 120_000 });
      await sleep(2000);
      const loaded = rssKb();
      return { value: Math.round((loaded - idle) / inFlight), idleMb: Math.round(idle / 1024), loadedMb: Math.round(loaded / 1024) };
    } finally {
      await q.close();
    }
  },
};
