import { randomUUID } from 'node:crypto';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { openKvTaskStore } from '../../src/store/kv/kv-task-store.ts';
import type { FakeClock } from '../support/fake-clock.ts';
import { natsServerForSuite } from '../support/nats-server.ts';
import { describeGateStore, type ReeveHarness } from './gate-store.suite.ts';
import { describeTaskStore } from './task-store.suite.ts';
import { describeOutbox } from './outbox.suite.ts';

const server = natsServerForSuite();

/** A fresh bucket per test; each peer is a store on its own connection to the same bucket. */
async function openHarness(clock: FakeClock): Promise<ReeveHarness> {
  const url = server.url;
  const bucket = `tasks-${randomUUID()}`;
  const connections: NatsConnection[] = [];
  const open = async () => {
    const nc = await connect({ servers: url });
    connections.push(nc);
    return openKvTaskStore({ nc, bucket, clock });
  };
  const store = await open();
  return {
    store,
    openPeer: open,
    dispose: async () => {
      await store.close();
      const [first] = connections;
      // One bucket per test: drop it so the server stays small over the file.
      if (first) await (await jetstreamManager(first)).streams.delete(`KV_${bucket}`).catch(() => undefined);
      for (const nc of connections) await nc.close();
    },
  };
}

describeTaskStore('jetstream-kv', openHarness);
describeGateStore('jetstream-kv', openHarness);
describeOutbox('jetstream-kv', openHarness);
