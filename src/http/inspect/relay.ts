/**
 * The `/inspect` WebSocket relay on the node's HTTP server: every receiver that connects
 * (`createWebSocketReceiver({ server: 'ws://HOST:PORT/inspect' })`) is sent the live actors,
 * then the stream. It speaks only outwards: what a receiver sends is read and dropped (a frame
 * over MAX_PAYLOAD closes it), and one that never reads loses its oldest messages (Outbox).
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { ErrorCode, ReeveError, toError } from '../../errors.ts';
import type { Logger } from '../../ports/logger.ts';
import { checkRequest, type AuthPolicy } from '../auth.ts';
import { statusFor } from '../http-io.ts';
import type { InspectionHub } from './hub.ts';
import { Outbox } from './outbox.ts';
import type { Socket, WsModule } from './ws.ts';

export const INSPECT_PATH = '/inspect';
/** Receivers send nothing we use; a larger frame is an abuse and closes the connection. */
const MAX_PAYLOAD = 4096;

export interface RelayOptions {
  server: Server;
  ws: WsModule;
  hub: InspectionHub;
  auth: AuthPolicy;
  /** Messages queued per receiver before the oldest are dropped. */
  bufferMessages: number;
  onDrop(): void;
  onReceivers(count: number): void;
  log: Logger;
}

export interface Relay {
  readonly receivers: number;
  close(): void;
}

export function attachRelay(options: RelayOptions): Relay {
  const { server, hub, log } = options;
  const wss = new options.ws.WebSocketServer({ noServer: true, maxPayload: MAX_PAYLOAD });
  const open = new Set<Socket>();

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    const url = new URL(req.url ?? '/', 'http://reeve.invalid');
    try {
      if (url.pathname !== INSPECT_PATH) throw new ReeveError(ErrorCode.NotFound, `no WebSocket endpoint at ${url.pathname}; the inspector relay is at ${INSPECT_PATH}`);
      // Reads need the token off loopback, as every read does; a receiver passes it as ?token=.
      checkRequest(req, options.auth, false, url.searchParams.get('token'));
    } catch (err) {
      return refuse(socket, err);
    }
    wss.handleUpgrade(req, socket, head, (ws) => connected(ws));
  };

  function connected(ws: Socket): void {
    open.add(ws);
    options.onReceivers(open.size);
    const outbox = new Outbox(ws, { limit: options.bufferMessages + hub.liveActors * 2, onDrop: () => options.onDrop() });
    const detach = hub.attach(outbox);
    ws.on('message', () => undefined);
    ws.on('error', (err) => log.debug({ err }, 'inspector receiver failed'));
    ws.on('close', () => {
      detach();
      outbox.close();
      open.delete(ws);
      options.onReceivers(open.size);
    });
  }

  server.on('upgrade', onUpgrade);
  return {
    get receivers() {
      return open.size;
    },
    close() {
      server.off('upgrade', onUpgrade);
      for (const ws of open) ws.terminate();
      wss.close();
    },
  };
}

/** Answers a refused upgrade with the API's error JSON and its status, then hangs up. */
function refuse(socket: Duplex, err: unknown): void {
  const e = toError(err);
  const code = e instanceof ReeveError ? e.code : ErrorCode.Internal;
  const body = JSON.stringify({ error: { code, message: e instanceof ReeveError ? e.message : 'internal error' } });
  const status = statusFor(code);
  socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : status === 404 ? 'Not Found' : 'Error'}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}
