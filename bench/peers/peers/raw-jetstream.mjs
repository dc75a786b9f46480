/**
 * Raw JetStream on the same nats-server (file storage): a work-queue stream with a backlog of
 * `n` messages, then one pull consumer fetching 1,000 at a time and acking each, as
 * bench/cluster.ts measures its baseline. Only the consume + ack half is timed: the peer of a
 * cluster node draining a backlog.
 */
import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy, StorageType } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import { perSecond } from '../lib/common.mjs';

export const workloads = {
  async noop({ n }, ctx) {
    const nc = await connect({ servers: ctx.servers.nats.url, noAsyncTraces: true });
    const stream = `RAW${process.pid}`;
    const jsm = await jetstreamManager(nc);
    try {
      await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], retention: RetentionPolicy.Workqueue, storage: StorageType.File, duplicate_window: nanos(120_000) });
      await jsm.consumers.add(stream, { durable_name: 'raw', ack_policy: AckPolicy.Explicit, ack_wait: nanos(30_000) });
      const js = jetstream(nc);
      const inFlight = new Set();
      for (let i = 0; i < n; i++) {
        const p = js.publish(`${stream}.job`, JSON.stringify({ id: `raw-${i}`, kind: 'noop' }), { msgID: `raw-${i}` }).finally(() => inFlight.delete(p));
        inFlight.add(p);
        if (inFlight.size >= 512) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      const consumer = await js.consumers.get(stream, 'raw');
      const start = performance.now();
      let got = 0;
      let last;
      while (got < n) {
        const batch = await consumer.fetch({ max_messages: 1000, expires: 1000 });
        for await (const m of batch) {
          m.ack();
          last = m;
          got++;
        }
      }
      await last?.ackAck();
      const ms = performance.now() - start;
      return { value: perSecond(n, ms), ms: Math.round(ms) };
    } finally {
      await jsm.streams.delete(stream).catch(() => {});
      await nc.close();
    }
  },
};
