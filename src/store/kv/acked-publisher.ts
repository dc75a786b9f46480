import { JetStreamApiError } from '@nats-io/jetstream';
import { createInbox, errors as natsErrors, headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';

/** How long a write waits for the stream's acknowledgement (the JetStream client's default). */
const ACK_TIMEOUT_MS = 5000;
const SWEEP_MS = 250;
const EXPECTED_LAST_SUBJECT_SEQ = 'Nats-Expected-Last-Subject-Sequence';

interface Pending {
  resolve(seq: number): void;
  reject(err: Error): void;
  subject: string;
  deadline: number;
}

/**
 * JetStream publishes that wait for the stream's ack, the way `kv.create` / `kv.update` do it,
 * without the client's per-request machinery: every ack comes back on one wildcard inbox
 * subscription and is matched to its write by the reply subject's last token; one sweep
 * timer fails the writes whose ack is overdue. Measured on one 2.9.10 server, 128 writes in
 * flight: kv.put 16,000-17,000/s at ~60 µs of client CPU each (a timer, a request object and
 * an Error with a captured stack per request), this 30,000-34,000/s at ~20 µs.
 *
 * Same outcomes as the client's: the stored sequence (the KV revision), a JetStreamApiError
 * for a refused write (`wrong last sequence` for a lost compare-and-set), NoRespondersError
 * when no stream takes the subject, TimeoutError after ACK_TIMEOUT_MS (the write may still
 * have been stored: a caller re-reads, as after any timeout), and the client's own error when
 * the publish cannot be sent (closed connection, payload over max_payload).
 */
export class AckedPublisher {
  readonly #nc: NatsConnection;
  readonly #inbox: string;
  readonly #pending = new Map<string, Pending>();
  readonly #sub: Subscription;
  #next = 0;
  #sweep: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
    // The connection's inbox prefix: a deployment's permissions may allow only that one.
    this.#inbox = createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.#sub = nc.subscribe(`${this.#inbox}.*`, { callback: (_err, m) => this.#onAck(m) });
    // closed() never rejects (it resolves with the error, if any) and #failAll does not throw.
    void nc.closed().then(() => this.#failAll(new natsErrors.ClosedConnectionError()));
  }

  /**
   * Publishes `data` on `subject`; with `expectedLastSubjectSeq` the stream stores it only if
   * the subject's last message has that sequence (0: none), i.e. a KV compare-and-set.
   * Resolves with the stored message's sequence.
   */
  publish(subject: string, data: Uint8Array, expectedLastSubjectSeq?: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      if (this.#closed) {
        reject(new natsErrors.ClosedConnectionError());
        return;
      }
      const token = (this.#next++).toString(36);
      const options: { reply: string; headers?: ReturnType<typeof headers> } = { reply: `${this.#inbox}.${token}` };
      if (expectedLastSubjectSeq !== undefined) {
        options.headers = headers();
        options.headers.set(EXPECTED_LAST_SUBJECT_SEQ, String(expectedLastSubjectSeq));
      }
      this.#pending.set(token, { resolve, reject, subject, deadline: performance.now() + ACK_TIMEOUT_MS });
      try {
        this.#nc.publish(subject, data, options);
      } catch (err) {
        this.#pending.delete(token);
        reject(err as Error);
        return;
      }
      this.#sweep ??= setInterval(() => this.#expire(), SWEEP_MS).unref();
    });
  }

  /** Fails the writes still waiting (their outcome is unknown) and stops listening. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sub.unsubscribe();
    this.#failAll(new natsErrors.ClosedConnectionError());
  }

  #onAck(m: Msg): void {
    const token = m.subject.slice(this.#inbox.length + 1);
    const pending = this.#pending.get(token);
    if (!pending) return; // timed out already
    this.#pending.delete(token);
    if (m.data.length === 0 && m.headers?.code === 503) {
      pending.reject(new natsErrors.NoRespondersError(pending.subject));
      return;
    }
    let ack: { seq?: number; error?: { code: number; err_code?: number; description: string } };
    try {
      ack = m.json();
    } catch (err) {
      pending.reject(new Error(`unreadable JetStream ack on ${pending.subject}: ${(err as Error).message}`));
      return;
    }
    if (ack.error) pending.reject(new JetStreamApiError({ code: ack.error.code, err_code: ack.error.err_code ?? 0, description: ack.error.description }));
    else if (typeof ack.seq === 'number') pending.resolve(ack.seq);
    else pending.reject(new Error(`invalid JetStream ack on ${pending.subject}`));
  }

  #expire(): void {
    const now = performance.now();
    for (const [token, pending] of this.#pending) {
      if (pending.deadline > now) continue;
      this.#pending.delete(token);
      pending.reject(new natsErrors.TimeoutError());
    }
    if (this.#pending.size === 0 && this.#sweep !== undefined) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }

  #failAll(err: Error): void {
    for (const pending of this.#pending.values()) pending.reject(err);
    this.#pending.clear();
    if (this.#sweep !== undefined) clearInterval(this.#sweep);
    this.#sweep = undefined;
  }
}
