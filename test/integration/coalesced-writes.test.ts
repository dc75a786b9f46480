import { setImmediate as nextTurn } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coalesceNatsWrites } from '../../src/transport/coalesced-writes.ts';
import { startNatsServer, type NatsServer } from '../support/nats-server.ts';
import { corkedAcrossOneTurn } from '../support/nats-socket.ts';


describe('coalesced NATS socket writes', () => {
  let server: NatsServer;
  beforeAll(async () => {
    server = await startNatsServer();
    expect(coalesceNatsWrites()).toBe(true);
  }, 30_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('holds the writes of one event-loop turn and hands them over on the next', async () => {
    const nc = await connect({ servers: server.url });
    try {
      expect(await corkedAcrossOneTurn(nc, 't.a')).toEqual({ during: 1, after: 0 });
    } finally {
      await nc.close();
    }
  });

  it('delivers every message, in order, across turns and on a drain right after publishing', async () => {
    const sub = await connect({ servers: server.url });
    const pub = await connect({ servers: server.url });
    const got: number[] = [];
    sub.subscribe('t.order', {
      callback: (_err, msg) => {
        got.push(Number(msg.string()));
      },
    });
    await sub.flush();
    let n = 0;
    for (let turn = 0; turn < 200; turn++) {
      for (let i = 0; i < 10; i++) pub.publish('t.order', String(n++));
      await (turn % 2 ? nextTurn() : Promise.resolve());
    }
    // (A plain close() drops unflushed publishes with or without the patch: Reeve drains.)
    for (let i = 0; i < 5; i++) pub.publish('t.order', String(n++));
    await pub.drain();
    for (let i = 0; i < 100 && got.length < n; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(got).toEqual(Array.from({ length: n }, (_, i) => i));
    await sub.close();
  });
});
