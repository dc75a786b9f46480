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
  error?: Error | undefined;
  /** The raw body as text (for dead letters and rejection excerpts). */
  raw: string;
  /** Reply subject of a request, if any: answering is `bus.publish(reply, data)` (see transport/respond.ts). */
  reply?: string;
}

export interface Subscription {
  unsubscribe(): void;
}

export type BusStatus = 'online' | 'offline';

export interface SubscribeOptions {
  /** Queue group name: among the subscribers with the same name, one gets each message. */
  queue?: string;
}

/**
 * Refined from the first draft, keeping its methods: both adapters check subjects by NATS's
 * rules and refuse a value JSON cannot hold (INVALID_INPUT, thrown at the call), so a bug shows
 * in embedded mode as it would in a cluster instead of as an event silently lost; `request`
 * says why it got no answer in `data.reason`.
 */
export interface Bus {
  /**
   * Never throws for a closed or disconnected bus: events are best effort (the store is the
   * truth). Throws INVALID_INPUT for a subject with a wildcard or an empty token, or data that
   * is not JSON (`undefined` is sent as `null`).
   */
  publish(subject: string, data: unknown): void;
  /**
   * `*` matches one token, `>` the rest, as in NATS. A handler that throws is logged, not fatal.
   * Throws STORE_UNAVAILABLE once closed. With `queue`, each message goes to one subscriber of
   * that queue group (a NATS queue group): a request that must be handled once in a cluster.
   */
  subscribe(subject: string, handler: (message: BusMessage) => void | Promise<void>, options?: SubscribeOptions): Subscription;
  /**
   * Publishes and waits for the first reply. Rejects with STORE_UNAVAILABLE (`data.reason`:
   * `timeout`, `no-responders`, `offline` at once while disconnected, `closed`, `failed`).
   */
  request(subject: string, data: unknown, timeoutMs: number): Promise<BusMessage>;
  /** Current connectivity; the in-process bus is always online. */
  readonly status: BusStatus;
  /** Called on every status change (a NATS outage and its end). Returns an unsubscribe. */
  onStatus(listener: (status: BusStatus) => void): () => void;
  /**
   * Resolves once earlier publishes reached the server (NATS; at once while offline, where they
   * wait for the reconnect) or were handed to their handlers (in process).
   */
  flush(): Promise<void>;
  close(): Promise<void>;
}
