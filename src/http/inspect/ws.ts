/**
 * The `ws` package (WebSocket server and client; Node 20 has no WebSocket server, and no client
 * without a flag), typed here for the little Reeve uses: the project ships no @types/ws, and the
 * types must not reach dist/'s declarations, which consumers compile. Loaded only with
 * inspection on.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/** One WebSocket connection, either end. */
export interface Socket {
  readonly readyState: number;
  /** Bytes queued in the socket but not yet handed to the kernel. */
  readonly bufferedAmount: number;
  /** `done` runs once the frame is written (or the write failed). */
  send(data: string, done?: (err?: Error) => void): void;
  close(code?: number, reason?: string): void;
  terminate(): void;
  on(event: 'open', listener: () => void): this;
  on(event: 'close', listener: (code: number) => void): this;
  on(event: 'error', listener: (err: Error) => void): this;
  on(event: 'message', listener: (data: unknown) => void): this;
}

export interface SocketServer {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, done: (ws: Socket) => void): void;
  close(): void;
}

export interface WsModule {
  WebSocket: {
    new (url: string, options?: { handshakeTimeout?: number; maxPayload?: number; headers?: Record<string, string> }): Socket;
    readonly OPEN: number;
  };
  WebSocketServer: new (options: { noServer: true; maxPayload?: number }) => SocketServer;
}

// A specifier typed as string: TypeScript then types the module as `any` instead of failing
// on the missing declarations, and the cast below is the one place that trusts ws's API.
const WS: string = 'ws';

export async function loadWs(): Promise<WsModule> {
  return (await import(WS)) as WsModule;
}
