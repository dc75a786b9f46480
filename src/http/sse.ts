import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventFeed } from './event-feed.ts';

/** A slow client is dropped once this much is queued for it, rather than grow the node's memory. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const PING_MS = 15_000;
/**
 * Frames are written in batches this often: one write per client per event cost the node ~40 %
 * of its throughput with 10 clients (bench/http.ts); a dashboard does not need them sooner.
 */
const FLUSH_MS = 50;

/**
 * `GET /api/v1/events`: Server-Sent Events (`event: task|node|breaker`, `data:` the contract's
 * JSON). `redact` runs over each frame when the config has secrets.
 */
export function serveEvents(req: IncomingMessage, res: ServerResponse, feed: EventFeed, redact: (text: string) => string, open: Set<ServerResponse>): void {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
  res.write('retry: 2000\n\n');
  open.add(res);
  let pending: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    timer = undefined;
    if (res.writableLength > MAX_BUFFERED_BYTES) return res.destroy();
    res.write(pending.join(''));
    pending = [];
  };
  const unsubscribe = feed.subscribe((event) => {
    pending.push(`event: ${event.type}\ndata: ${redact(event.json)}\n\n`);
    timer ??= setTimeout(flush, FLUSH_MS);
  });
  const ping = setInterval(() => res.write(': ping\n\n'), PING_MS);
  const end = () => {
    clearInterval(ping);
    clearTimeout(timer);
    unsubscribe();
    open.delete(res);
  };
  req.on('close', end);
  res.on('close', end);
}
