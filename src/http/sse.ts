import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventFeed } from './event-feed.ts';

/** A slow client is dropped once this much is queued for it, rather than grow the node's memory. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const PING_MS = 15_000;

/**
 * `GET /api/v1/events`: Server-Sent Events (`event: task|node|breaker`, `data:` the contract's
 * JSON). `redact` runs over each frame when the config has secrets.
 */
export function serveEvents(req: IncomingMessage, res: ServerResponse, feed: EventFeed, redact: (text: string) => string, open: Set<ServerResponse>): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.write('retry: 2000\n\n');
  open.add(res);
  const unsubscribe = feed.subscribe((event) => {
    if (res.writableLength > MAX_BUFFERED_BYTES) return res.destroy();
    res.write(`event: ${event.type}\ndata: ${redact(event.json)}\n\n`);
  });
  const ping = setInterval(() => res.write(': ping\n\n'), PING_MS);
  const end = () => {
    clearInterval(ping);
    unsubscribe();
    open.delete(res);
  };
  req.on('close', end);
  res.on('close', end);
}
