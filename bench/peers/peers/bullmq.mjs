/**
 * BullMQ on Redis. `inline`: the processor is a function in the worker's process;
 * `sandboxed`: a processor file run in worker threads (`useWorkerThreads`), the like-for-like
 * peer of a Reeve module agent. Jobs keep their records (removeOnComplete false, the default),
 * and figures come from them: processedOn (start) and finishedOn.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Queue, Worker } from 'bullmq';
import { paced, percentiles, rssKb, sleep, spanRate, waitFor } from '../lib/common.mjs';

function connection(ctx) {
  const u = new URL(ctx.servers.redis.url);
  return { host: u.hostname, port: Number(u.port), maxRetriesPerRequest: null };
}

function processorFile(ctx) {
  const file = join(ctx.dir, 'bullmq-processor.mjs');
  writeFileSync(file, 'export default async function (job) { if (job.data.ms) await new Promise((r) => setTimeout(r, job.data.ms)); return null; }\n');
  return file;
}

async function open(ctx, mode, concurrency, { autorun = true } = {}) {
  const name = `q${process.pid}${Date.now()}`;
  const queue = new Queue(name, { connection: connection(ctx) });
  const processor = mode === 'sandboxed' ? processorFile(ctx) : async (job) => (job.data.ms ? sleep(job.data.ms).then(() => null) : null);
  const options = { connection: connection(ctx), concurrency, ...(mode === 'sandboxed' ? { useWorkerThreads: true } : {}) };
  let worker;
  const start = () => {
    worker = new Worker(name, processor, options);
    return worker;
  };
  if (autorun) start();
  const close = async () => {
    await worker?.close(true);
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  };
  return { queue, start, get worker() { return worker; }, close };
}

async function addAll(queue, n, data) {
  for (let i = 0; i < n; i += 1000) {
    await queue.addBulk(Array.from({ length: Math.min(1000, n - i) }, () => ({ name: 'j', data })));
  }
}

async function drainBacklog(ctx, mode, { n, concurrency, ms }) {
  const q = await open(ctx, mode, concurrency, { autorun: false });
  try {
    await addAll(q.queue, n, ms ? { ms } : {});
    const w = q.start();
    await waitFor(`${n} completed`, async () => (await q.queue.getCompletedCount()) >= n, { everyMs: 250 });
    await w.close();
    const jobs = await q.queue.getJobs(['completed'], 0, n);
    if (jobs.length !== n) throw new Error(`expected ${n} completed jobs, found ${jobs.length}`);
    return spanRate(jobs.map((j) => j.processedOn), jobs.map((j) => j.finishedOn), n);
  } finally {
    await q.close();
  }
}

export const workloads = (mode) => ({
  noop: (p, ctx) => drainBacklog(ctx, mode, p),
  sleep: (p, ctx) => drainBacklog(ctx, mode, p),
  /** Jobs added at a fixed rate (by a Queue in the same process) while the worker runs: processedOn - timestamp. */
  async latency({ count, rate, concurrency }, ctx) {
    const q = await open(ctx, mode, concurrency);
    try {
      await q.queue.add('warm', {});
      await waitFor('warm-up', async () => (await q.queue.getCompletedCount()) >= 1);
      await paced(count, rate, () => q.queue.add('j', {}));
      await waitFor(`${count} completed`, async () => (await q.queue.getCompletedCount()) >= count + 1);
      const jobs = (await q.queue.getJobs(['completed'], 0, count + 1)).filter((j) => j.name === 'j');
      return percentiles(jobs.map((j) => j.processedOn - j.timestamp));
    } finally {
      await q.close();
    }
  },
  /** RSS of the worker process idle vs with `inFlight` jobs sleeping, per job. */
  async memory({ inFlight }, ctx) {
    const q = await open(ctx, mode, inFlight);
    try {
      await q.queue.add('warm', { ms: 1 });
      await waitFor('warm-up', async () => (await q.queue.getCompletedCount()) >= 1);
      await sleep(1000);
      const idle = rssKb();
      await addAll(q.queue, inFlight, { ms: 120_000 });
      await waitFor(`${inFlight} active`, async () => (await q.queue.getActiveCount()) >= inFlight, { timeoutMs: 120_000 });
      await sleep(2000);
      const loaded = rssKb();
      return { value: Math.round((loaded - idle) / inFlight), idleMb: Math.round(idle / 1024), loadedMb: Math.round(loaded / 1024) };
    } finally {
      await q.close();
    }
  },
});
