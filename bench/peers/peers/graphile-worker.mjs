/**
 * graphile-worker 0.17 on PostgreSQL (LISTEN/NOTIFY, its defaults otherwise). It deletes a job
 * when it succeeds, so the figures come from its events, timed in the worker's process:
 * first `job:start` to last `job:success`; submit → start is that start − the job's created_at.
 */
import { Logger, makeWorkerUtils, run } from 'graphile-worker';
import { paced, percentiles, rssKb, sleep, waitFor, perSecond } from '../lib/common.mjs';


async function open(ctx, concurrency) {
  const schema = `gw${process.pid}`;
  const utils = await makeWorkerUtils({ connectionString: ctx.servers.postgres.url, schema });
  await utils.migrate();
  const starts = [];
  const ends = [];
  const delays = [];
  let runner;
  const start = async () => {
    runner = await run({
      connectionString: ctx.servers.postgres.url,
      schema,
      concurrency,
      noHandleSignals: true,
      maxPoolSize: Math.min(100, Math.max(10, concurrency + 2)), // the server allows 200 connections
      logger: makeLogger(),
      taskList: {
        job: async (payload) => {
          if (payload.ms) await sleep(payload.ms);
        },
      },
    });
    runner.events.on('job:start', ({ job }) => {
      const now = Date.now();
      starts.push(now);
      delays.push(now - new Date(job.created_at).getTime());
    });
    runner.events.on('job:success', () => ends.push(Date.now()));
  };
  /** `abandon`: jobs still sleeping are left to the process exit (a graceful stop would wait for them). */
  const close = async ({ abandon = false } = {}) => {
    if (!abandon) await runner?.stop().catch(() => {});
    await utils.release();
  };
  return { utils, start, starts, ends, delays, close };
}

/** Silent but for errors. */
function makeLogger() {
  return new Logger(() => (level, message) => {
    if (level === 'error') console.error('graphile-worker:', message);
  });
}

async function addAll(utils, n, payload) {
  for (let i = 0; i < n; i += 1000) await utils.addJobs(Array.from({ length: Math.min(1000, n - i) }, () => ({ identifier: 'job', payload })));
}

async function drainBacklog(ctx, { n, concurrency, ms }) {
  const q = await open(ctx, concurrency);
  try {
    await addAll(q.utils, n, ms ? { ms } : {});
    await q.start();
    await waitFor(`${n} succeeded`, () => q.ends.length >= n, { everyMs: 100 });
    const ms2 = Math.max(...q.ends) - Math.min(...q.starts);
    return { value: perSecond(n, ms2), ms: ms2 };
  } finally {
    await q.close();
  }
}

export const workloads = {
  noop: (p, ctx) => drainBacklog(ctx, p),
  sleep: (p, ctx) => drainBacklog(ctx, p),
  async latency({ count, rate, concurrency }, ctx) {
    const q = await open(ctx, concurrency);
    try {
      await q.start();
      await paced(count, rate, () => q.utils.addJob('job', {}));
      await waitFor(`${count} succeeded`, () => q.ends.length >= count, { everyMs: 100 });
      return percentiles(q.delays);
    } finally {
      await q.close();
    }
  },
  async memory({ inFlight }, ctx) {
    const q = await open(ctx, inFlight);
    try {
      await q.start();
      await q.utils.addJob('job', { ms: 1 });
      await waitFor('warm-up', () => q.ends.length >= 1);
      await sleep(1000);
      const idle = rssKb();
      await addAll(q.utils, inFlight, { ms: 120_000 });
      await waitFor(`${inFlight} started`, () => q.starts.length >= inFlight + 1, { timeoutMs: 120_000 });
      await sleep(2000);
      const loaded = rssKb();
      return { value: Math.round((loaded - idle) / inFlight), idleMb: Math.round(idle / 1024), loadedMb: Math.round(loaded / 1024) };
    } finally {
      await q.close({ abandon: true });
    }
  },
};
