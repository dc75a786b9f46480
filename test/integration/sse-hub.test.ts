import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { EventFeed } from '../../src/http/event-feed.ts';
import { SseHub } from '../../src/http/sse.ts';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { InProcessBus } from '../../src/transport/in-process-bus.ts';
import { subjects } from '../../src/protocol/subjects.ts';
import { recordingLogger } from '../support/recording-logger.ts';
import { tempDir } from '../support/temp-dir.ts';

/**
 * The SSE hub on a real socket: the feed's events from an in-process bus (and a real SQLite store
 * behind it), read by raw HTTP clients.
 */
const cleanup: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const undo of cleanup.splice(0).reverse()) await undo();
});

async function setup(redact: (text: string) => string = (t) => t) {
  const dir = tempDir('reeve-sse-');
  const store = openSqliteTaskStore({ path: join(dir.path, 'reeve.db') });
  const log = recordingLogger();
  const bus = new InProcessBus({ log });
  const s = subjects('reeve');
  const feed = new EventFeed({ bus, subjects: s, store, log });
  const hub = new SseHub(feed, redact);
  const server: Server = createServer((req, res) => hub.serve(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(async () => {
    hub.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await bus.close();
    await store.close();
    dir.remove();
  });
  const port = (server.address() as AddressInfo).port;
  const publish = (id: string, state: string, extra: Record<string, unknown> = {}) =>
    bus.publish(s.taskEvent(id), { id, kind: 'k', state, from: null, at: 1, attempts: { transient: 0, permanent: 0, crashes: 0 }, ...extra });
  return { port, feed, hub, publish };
}

/** One raw SSE client: every chunk as received, and the frames parsed from them. */
function client(port: number) {
  const chunks: string[] = [];
  let res: import('node:http').IncomingMessage | undefined;
  const opened = new Promise<void>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/' }, (r) => {
      res = r;
      r.setEncoding('utf8');
      r.on('data', (c: string) => chunks.push(c));
      resolve();
    });
    req.on('error', reject);
    req.end();
    cleanup.push(() => void req.destroy());
  });
  const frames = () =>
    chunks
      .join('')
      .split('\n\n')
      .filter((f) => f.includes('data: '))
      .map((f) => ({ event: /^event: (.*)$/m.exec(f)?.[1], data: JSON.parse(/^data: (.*)$/m.exec(f)![1]!) as { id: string; state: string } }));
  return { opened, chunks, frames, response: () => res! };
}

describe('SSE hub', () => {
  it('sends every event, in order, to every client, in the same batches; the feed is unsubscribed when the last client leaves', async () => {
    const { port, feed, hub, publish } = await setup();
    const clients = Array.from({ length: 10 }, () => client(port));
    await Promise.all(clients.map((c) => c.opened));
    await expect.poll(() => hub.clients).toBe(10);
    expect(feed.listeners).toBe(1); // one subscription for all of them
    for (let i = 0; i < 300; i++) publish(`t${i}`, 'queued');
    const expected = Array.from({ length: 300 }, (_, i) => ({ event: 'task', data: expect.objectContaining({ id: `t${i}`, state: 'queued' }) }));
    for (const c of clients) await expect.poll(() => c.frames().length).toBe(300);
    for (const c of clients) expect(c.frames()).toEqual(expected);
    // The same bytes for all: built once, not per client.
    const first = clients[0]!.chunks.join('');
    for (const c of clients) expect(c.chunks.join('')).toBe(first);
    for (const c of clients) c.response().destroy();
    await expect.poll(() => hub.clients).toBe(0);
    expect(feed.listeners).toBe(0);
  });

  it('redacts the secrets of the config from every frame', async () => {
    const { port, publish } = await setup((t) => t.replaceAll('hunter2', '[REDACTED]'));
    const c = client(port);
    await c.opened;
    publish('s1', 'failed', { error: { class: 'permanent', message: 'login with hunter2 refused' } });
    await expect.poll(() => c.frames().length).toBe(1);
    expect(c.chunks.join('')).not.toContain('hunter2');
    expect(c.frames()[0]!.data).toMatchObject({ error: { message: 'login with [REDACTED] refused' } });
  });

  it('drops a client that stops reading once 4 MiB are queued for it, and keeps serving the others', async () => {
    const { port, hub, publish } = await setup();
    const stalled = client(port);
    const reader = client(port);
    await Promise.all([stalled.opened, reader.opened]);
    stalled.response().pause();
    // Large events (a succeeded task's result) fill the socket buffers quickly.
    const big = 'r'.repeat(100_000);
    for (let i = 0; i < 200; i++) {
      publish(`b${i}`, 'succeeded', { result: big });
      if (i % 10 === 9) await new Promise((resolve) => setTimeout(resolve, 60));
    }
    await expect.poll(() => hub.clients, { timeout: 10_000 }).toBe(1);
    await expect.poll(() => reader.frames().length, { timeout: 10_000 }).toBe(200);
  });
});
