import type { InspectionSink } from './hub.ts';

/** What an Outbox writes to: a WebSocket (see ws.ts). */
export interface OutboxSocket {
  readonly bufferedAmount: number;
  send(data: string, done?: (err?: Error) => void): void;
}

export interface OutboxOptions {
  /** Messages waiting at most; past it the oldest is dropped. */
  limit: number;
  /** Called with each drop (for /metrics). */
  onDrop(): void;
}

/** Frames handed to the socket but not yet written: past it, messages wait in the queue. */
const MAX_IN_FLIGHT = 16;
/** Bytes the socket may hold unwritten before the queue stops feeding it. */
const HIGH_WATER_BYTES = 1 << 20;

/**
 * One receiver's queue. The node never waits for a receiver: a slow or stuck one (its TCP window
 * full, so its writes stop completing) lets its queue grow to `limit`, then loses the oldest
 * messages, counted, instead of holding memory or slowing the node.
 */
export class Outbox implements InspectionSink {
  #queue: string[] = [];
  #head = 0;
  #inFlight = 0;
  #closed = false;

  constructor(
    private readonly socket: OutboxSocket,
    private readonly options: OutboxOptions,
  ) {}

  send(message: string): void {
    if (this.#closed) return;
    this.#queue.push(message);
    if (this.#queue.length - this.#head > this.options.limit) {
      this.#head++;
      this.options.onDrop();
    }
    this.#pump();
  }

  /** Messages waiting to be handed to the socket. */
  get waiting(): number {
    return this.#queue.length - this.#head;
  }

  close(): void {
    this.#closed = true;
    this.#queue = [];
    this.#head = 0;
  }

  #pump(): void {
    while (!this.#closed && this.#head < this.#queue.length && this.#inFlight < MAX_IN_FLIGHT && this.socket.bufferedAmount < HIGH_WATER_BYTES) {
      const message = this.#queue[this.#head++]!;
      this.#inFlight++;
      this.socket.send(message, () => {
        this.#inFlight--;
        this.#pump();
      });
    }
    // Compacted now and then, not on every shift (an array shift is O(n)).
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    }
  }
}
