/**
 * `--inspect-url ws://…`: the node pushes its inspection stream to an outside relay (e.g.
 * @statelyai/inspect's createInspectorServer, whose page opens Stately's UI). Each connection
 * starts with the live actors, so a relay that restarts, or one reached late, still sees the
 * whole tree; while it is unreachable nothing is queued and the node retries with backoff.
 */
import type { Logger } from '../../ports/logger.ts';
import type { InspectionHub } from './hub.ts';
import { Outbox } from './outbox.ts';
import type { Socket, WsModule } from './ws.ts';

export interface PusherOptions {
  url: string;
  ws: WsModule;
  hub: InspectionHub;
  bufferMessages: number;
  onDrop(): void;
  log: Logger;
  /** Reconnect delays (default 1 s doubling to 30 s). */
  firstRetryMs?: number;
  maxRetryMs?: number;
}

export interface Pusher {
  /** Whether the outside relay is connected now. */
  readonly isConnected: boolean;
  close(): void;
}

export function startPusher(options: PusherOptions): Pusher {
  const { url, hub, log } = options;
  const first = options.firstRetryMs ?? 1_000;
  const max = options.maxRetryMs ?? 30_000;
  let delay = first;
  let socket: Socket | undefined;
  let connected = false;
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;

  const connect = () => {
    if (closed) return;
    const ws = new options.ws.WebSocket(url, { handshakeTimeout: 10_000, maxPayload: 4096 });
    socket = ws;
    let detach: (() => void) | undefined;
    let outbox: Outbox | undefined;
    ws.on('open', () => {
      connected = true;
      delay = first;
      if (failures > 0) log.info({ url, failures }, 'inspector relay reachable again');
      failures = 0;
      outbox = new Outbox(ws, { limit: options.bufferMessages + hub.liveActors * 2, onDrop: () => options.onDrop() });
      detach = hub.attach(outbox);
    });
    ws.on('message', () => undefined);
    ws.on('error', (err) => {
      // Once per outage: a relay that is down for an hour must not fill the log.
      if (failures++ === 0) log.warn({ err, url }, 'cannot reach the inspector relay; retrying with backoff');
    });
    ws.on('close', () => {
      connected = false;
      detach?.();
      outbox?.close();
      if (closed) return;
      timer = setTimeout(connect, delay);
      timer.unref();
      delay = Math.min(max, delay * 2);
    });
  };
  connect();

  return {
    get isConnected() {
      return connected;
    },
    close() {
      closed = true;
      clearTimeout(timer);
      socket?.terminate();
    },
  };
}
