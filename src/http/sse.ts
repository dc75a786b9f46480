import type { IncomingMessage, ServerResponse } from 'node:http';
import type { EventFeed, FeedBatch } from './event-feed.ts';

/** A slow client is dropped once this much is queued for it, rather than grow the node's memory. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
const PING_MS = 15_000;
/**
 * At most one write per client this often. Each write has a fixed cost (a buffer, a syscall, the
 * loopback's TCP work) that under load outweighs the frames in it: 200 ms windows cost the node
 * less than half per event of what 50 ms ones did (bench/http.ts). A quiet stream is not held
 * back: the first event after a pause goes out on the next turn of the loop.
 */
const FLUSH_MS = 200;
const HEADERS = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' };
const PING = Buffer.from(': ping\n\n');

/**
 * `GET /api/v1/events`: Server-Sent Events (`event: task|node|breaker`, `data:` the contract's
 * JSON) for every client of one server. Each event becomes one frame, whatever the number of
 * clients; the hub takes the feed's events a window (FLUSH_MS) at a time, so the feed's work per
 * event (parse, validate, dedup) and the frames' building run in one loop per window rather than
 * on every bus message of a main-thread-bound node; the window's frames are redacted and encoded
 * once, and that one buffer is written to every client. Per-client work is one write per window, so ten dashboards
 * cost about what one does (building and redacting a frame per client per event was the most
 * of the node's SSE cost, with the garbage it made).
 */
export class SseHub {
  readonly #clients = new Set<ServerResponse>();
  #batch: FeedBatch | undefined;
  #flushTimer: NodeJS.Timeout | undefined;
  #lastFlush = 0;
  #pingTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly feed: EventFeed,
    private readonly redact: (text: string) => string,
  ) {}

  get clients(): number {
    return this.#clients.size;
  }

  serve(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, HEADERS);
    res.write('retry: 2000\n\n');
    this.#clients.add(res);
    if (this.#clients.size === 1) this.#start();
    const end = () => {
      if (!this.#clients.delete(res)) return;
      if (this.#clients.size === 0) this.#stop();
    };
    req.on('close', end);
    res.on('close', end);
  }

  /** Ends every stream (the server is closing). */
  close(): void {
    for (const res of this.#clients) res.end();
    this.#clients.clear();
    this.#stop();
  }

  #start(): void {
    this.#batch = this.feed.subscribeBatched(() => this.#schedule());
    this.#pingTimer = setInterval(() => this.#write(PING), PING_MS);
    this.#pingTimer.unref();
  }

  #stop(): void {
    this.#batch?.unsubscribe();
    this.#batch = undefined;
    clearInterval(this.#pingTimer);
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
  }

  /** Called once per window by the feed, when it has something to take. */
  #schedule(): void {
    this.#flushTimer ??= setTimeout(() => this.#flush(), Math.max(0, this.#lastFlush + FLUSH_MS - performance.now()));
  }

  #flush(): void {
    this.#flushTimer = undefined;
    this.#lastFlush = performance.now();
    const events = this.#batch?.take() ?? [];
    if (events.length === 0) return;
    let text = '';
    for (const event of events) text += `event: ${event.type}\ndata: ${event.json}\n\n`;
    this.#write(Buffer.from(this.redact(text)));
  }

  #write(chunk: Buffer): void {
    for (const res of this.#clients) {
      if (res.writableLength > MAX_BUFFERED_BYTES) res.destroy();
      else res.write(chunk);
    }
  }
}
