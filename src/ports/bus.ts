/**
 * The message bus between nodes, publishers and operators: fire-and-forget events and control
 * messages (core NATS in a cluster, an in-process emitter in embedded mode). Durable work
 * (submissions) does not go through it: see src/cluster/submit-stream.ts.
 *
 * Payloads are JSON values; a subscriber receives them parsed (or the parse error) and must
 * validate them with the message's zod schema (src/protocol/messages.ts) before use.
 */
export interface BusMessage {
  subject: string;
  /** The parsed JSON body, or undefined when `error` is set. */
  data: unknown;
  /** Set when the body was not JSON: the subscriber reports it, never throws. */
  error?: Error;
  /** The raw body as text (for dead letters and rejection excerpts). */
  raw: string;
  /** Reply subject of a request, if any. */
  reply?: string;
}

export interface Subscription {
  unsubscribe(): void;
}

export type BusStatus = 'online' | 'offline';

export interface Bus {
  /** Never throws for a closed or disconnected bus: events are best effort (the store is the truth). */
  publish(subject: string, data: unknown): void;
  /** `*` matches one token, `>` the rest, as in NATS. A handler that throws is logged, not fatal. */
  subscribe(subject: string, handler: (message: BusMessage) => void | Promise<void>): Subscription;
  /** Publishes and waits for the first reply (REEVE STORE_UNAVAILABLE on timeout / no responders). */
  request(subject: string, data: unknown, timeoutMs: number): Promise<BusMessage>;
  /** Current connectivity; the in-process bus is always online. */
  readonly status: BusStatus;
  /** Called on every status change (a NATS outage and its end). Returns an unsubscribe. */
  onStatus(listener: (status: BusStatus) => void): () => void;
  /** Flushes pending publishes (a no-op in process). */
  flush(): Promise<void>;
  close(): Promise<void>;
}
