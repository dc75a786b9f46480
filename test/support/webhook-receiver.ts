import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Notification } from '../../src/protocol/notification.ts';

export interface Delivery {
  headers: IncomingHttpHeaders;
  body: Notification;
  raw: string;
  /** The HMAC the receiver computed over the raw body with its secret, as the header should carry it. */
  expectedSignature?: string;
}

/** How the receiver answers: 200, another status, or never (the request hangs until the sender gives up or dies). */
export type ReceiverMode = { status: number } | 'hang';

/**
 * A real webhook receiver on 127.0.0.1: records every request (duplicates included) and
 * deduplicates by notification id as a real receiver should. `down()` closes the port (the
 * sender gets "connection refused"), `up()` listens on the same port again.
 */
export interface Receiver {
  readonly url: string;
  readonly requests: Delivery[];
  /** One delivery per notification id, first seen first. */
  unique(): Delivery[];
  mode: ReceiverMode;
  down(): Promise<void>;
  up(): Promise<void>;
  stop(): Promise<void>;
}

export async function startReceiver(options: { secret?: string; port?: number } = {}): Promise<Receiver> {
  const requests: Delivery[] = [];
  const hanging = new Set<ServerResponse>();
  let port = options.port ?? 0;
  let server: Server | undefined;
  const receiver: Receiver = {
    url: '',
    requests,
    mode: { status: 200 },
    unique: () => [...new Map(requests.map((d) => [d.body.id, d] as const)).values()].sort((a, b) => requests.indexOf(a) - requests.indexOf(b)),
    down: async () => {
      const s = server;
      server = undefined;
      if (!s) return;
      for (const res of hanging) res.destroy();
      hanging.clear();
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    up: async () => {
      if (server) return;
      const s = createServer((req, res) => {
        let raw = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (raw += chunk));
        req.on('end', () => {
          const delivery: Delivery = { headers: req.headers, body: JSON.parse(raw) as Notification, raw };
          if (options.secret) delivery.expectedSignature = `sha256=${createHmac('sha256', options.secret).update(raw).digest('hex')}`;
          requests.push(delivery);
          if (receiver.mode === 'hang') return void hanging.add(res);
          res.writeHead(receiver.mode.status).end();
        });
      });
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => resolve());
      });
      port = (s.address() as AddressInfo).port;
      server = s;
      (receiver as { url: string }).url = `http://127.0.0.1:${port}/hooks/reeve`;
    },
    stop: () => receiver.down(),
  };
  await receiver.up();
  return receiver;
}

/** Polls `probe` until `ok` (every 20 ms), or throws after `timeoutMs` with `describe` of the last value. */
export async function waitFor<T>(probe: () => T | Promise<T>, ok: (value: T) => boolean, timeoutMs: number, describe: (value: T) => string = (v) => JSON.stringify(v)): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
