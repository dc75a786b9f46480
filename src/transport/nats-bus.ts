import { errors as natsErrors, type Msg, type NatsConnection, type Subscription as NatsSubscription } from '@nats-io/transport-node';
import { type ReeveError, toError } from '../errors.ts';
import type { Bus, BusMessage, BusStatus, SubscribeOptions, Subscription } from '../ports/bus.ts';
import type { Logger } from '../ports/logger.ts';
import { decodeMessage, encodePayload, encodeRequest } from './bus-message.ts';
import { reportHandlerFailure } from './handler-failure.ts';
import { busClosed, noResponders, offlineRequest, requestFailed, requestTimedOut } from './request-errors.ts';
import { assertPublishSubject, parsePattern } from './subject-pattern.ts';

export interface NatsBusOptions {
  log: Logger;
  /**
   * Whether `close()` also closes the connection. False (the default) when the connection is
   * shared with the KV store and the submission stream, whose owner closes it last.
   */
  ownsConnection?: boolean;
  /** How long `close()` waits for subscriptions to drain before dropping them, in ms. Default 2000. */
  drainTimeoutMs?: number;
  /** Events kept while offline, in bytes of JSON; beyond it the oldest are dropped. Default 8 MiB. */
  offlineBufferBytes?: number;
}

/**
 * The bus over core NATS. Events are best effort (the KV store is the truth), so `publish`
 * never throws for connection trouble. `status` follows the connection so that a node pauses
 * claiming during an outage and resumes by itself when NATS is back.
 *
 * While offline the bus keeps events itself and sends them on reconnect: the 3.4 client's
 * own buffer is emptied at every reconnect attempt (`prepare()` resets the outbound buffer), so
 * anything published more than one attempt (2 s) before the server came back was lost. Events
 * published in the instant between the socket closing and the `disconnect` status event still
 * go to the client and may be lost; order holds except around that instant.
 */
export class NatsBus implements Bus {
  private readonly nc: NatsConnection;
  private readonly log: Logger;
  private readonly ownsConnection: boolean;
  private readonly drainTimeoutMs: number;
  private readonly subscriptions = new Set<NatsSubscription>();
  private readonly statusListeners = new Set<(status: BusStatus) => void>();
  private readonly statusEvents: AsyncIterable<unknown>;
  private readonly offlineBufferBytes: number;
  private readonly offline: Array<{ subject: string; raw: string }> = [];
  private offlineBytes = 0;
  private droppedOffline = 0;
  private current: BusStatus;
  private isClosed = false;

  constructor(nc: NatsConnection, options: NatsBusOptions) {
    this.nc = nc;
    this.log = options.log;
    this.ownsConnection = options.ownsConnection ?? false;
    this.drainTimeoutMs = options.drainTimeoutMs ?? 2000;
    this.offlineBufferBytes = options.offlineBufferBytes ?? 8 * 1024 * 1024;
    // A connection handed over is connected (connect() resolved); from here on its events tell.
    this.current = nc.isClosed() ? 'offline' : 'online';
    this.statusEvents = nc.status();
    void this.followStatus(); // never rejects: it logs the end of the status events itself
  }

  get status(): BusStatus {
    return this.current;
  }

  publish(subject: string, data: unknown): void {
    assertPublishSubject(subject);
    const raw = encodePayload(subject, data);
    if (this.current === 'offline' && !this.isClosed && !this.nc.isClosed()) this.keepWhileOffline(subject, raw);
    else this.send(subject, raw);
  }

  subscribe(subject: string, handler: (message: BusMessage) => void | Promise<void>, options: SubscribeOptions = {}): Subscription {
    parsePattern(subject);
    if (this.isClosed || this.nc.isClosed()) throw busClosed(subject);
    const sub = this.nc.subscribe(subject, {
      ...(options.queue === undefined ? {} : { queue: options.queue }),
      callback: (err, msg) => {
        if (err) {
          // The server refused the subscription (permissions); the client has closed it.
          this.subscriptions.delete(sub);
          this.log.error({ err, subject }, 'NATS refused a subscription; check the user\'s subscribe permissions');
          return;
        }
        this.deliver(msg, subject, handler);
      },
    });
    this.subscriptions.add(sub);
    return {
      unsubscribe: () => {
        if (!this.subscriptions.delete(sub)) return;
        try {
          sub.unsubscribe();
        } catch {
          // Already closed with the connection: nothing left to remove.
        }
      },
    };
  }

  async request(subject: string, data: unknown, timeoutMs: number): Promise<BusMessage> {
    const raw = encodeRequest(subject, data, timeoutMs);
    if (this.isClosed) throw busClosed(subject);
    // The request would be lost with the client's buffer: say so now rather than after the timeout.
    if (this.current === 'offline') throw offlineRequest(subject);
    let reply: Msg;
    try {
      reply = await this.nc.request(subject, raw, { timeout: timeoutMs });
    } catch (thrown) {
      throw requestError(subject, timeoutMs, toError(thrown));
    }
    return decodeMessage(reply.subject, reply.string(), reply.reply);
  }

  onStatus(listener: (status: BusStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  /** Waits until the server has every publish made so far; while offline there is nothing to wait for (they go out on reconnect). */
  async flush(): Promise<void> {
    if (this.isClosed || this.nc.isClosed() || this.current === 'offline') return;
    await this.nc.flush().catch((err: unknown) => this.log.debug({ err: toError(err) }, 'NATS flush failed'));
  }

  /**
   * Drains this bus's subscriptions (messages already received are still handled), then closes
   * the connection only if the bus owns it. Bounded: while offline a drain would wait for the
   * server, so subscriptions are dropped after `drainTimeoutMs`.
   */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    if (this.offline.length > 0) this.log.debug({ dropped: this.offline.length }, 'bus closed while offline; kept events dropped');
    this.offline.splice(0);
    const subs = [...this.subscriptions];
    this.subscriptions.clear();
    await Promise.all(subs.map((sub) => this.drain(sub)));
    (this.statusEvents as Partial<{ stop(): void }>).stop?.();
    this.statusListeners.clear();
    if (this.ownsConnection && !this.nc.isClosed()) {
      const drained = await withTimeout(this.nc.drain(), this.drainTimeoutMs);
      if (!drained) await this.nc.close();
    }
  }

  private deliver(msg: Msg, pattern: string, handler: (message: BusMessage) => void | Promise<void>): void {
    const failed = (thrown: unknown) => reportHandlerFailure(this.log, thrown, msg.subject, pattern);
    try {
      const result = handler(decodeMessage(msg.subject, msg.string(), msg.reply || undefined));
      if (result && typeof (result as Promise<void>).then === 'function') (result as Promise<void>).then(undefined, failed);
    } catch (thrown) {
      failed(thrown);
    }
  }

  private async drain(sub: NatsSubscription): Promise<void> {
    if (sub.isClosed()) return;
    const drained = this.current === 'online' && (await withTimeout(sub.drain(), this.drainTimeoutMs));
    if (!drained && !sub.isClosed()) {
      try {
        sub.unsubscribe();
      } catch {
        // The connection closed meanwhile.
      }
    }
  }

  private async followStatus(): Promise<void> {
    try {
      for await (const event of this.statusEvents as AsyncIterable<{ type: string }>) {
        // 'reconnecting' and the rest do not change reachability: disconnect starts an outage, reconnect ends it.
        if (event.type === 'disconnect' || event.type === 'close') this.setStatus('offline');
        else if (event.type === 'reconnect') this.setStatus('online');
      }
    } catch (thrown) {
      this.log.warn({ err: toError(thrown) }, 'NATS status events ended');
    }
    if (this.nc.isClosed()) this.setStatus('offline');
  }

  private send(subject: string, raw: string): void {
    try {
      this.nc.publish(subject, raw);
    } catch (thrown) {
      const err = toError(thrown);
      // Closed or draining is expected at shutdown; anything else (a payload over the
      // server's max_payload) is a message lost that someone should hear about.
      const isShutdown = err instanceof natsErrors.ClosedConnectionError || err instanceof natsErrors.DrainingConnectionError;
      if (isShutdown) this.log.debug({ err, subject }, 'bus closed; event dropped');
      else this.log.warn({ err, subject, bytes: raw.length }, 'NATS refused an event; dropped');
    }
  }

  private keepWhileOffline(subject: string, raw: string): void {
    this.offline.push({ subject, raw });
    this.offlineBytes += raw.length;
    while (this.offlineBytes > this.offlineBufferBytes && this.offline.length > 0) {
      this.offlineBytes -= this.offline.shift()!.raw.length;
      this.droppedOffline++;
    }
  }

  private sendKeptEvents(): void {
    const kept = this.offline.splice(0);
    this.offlineBytes = 0;
    if (this.droppedOffline > 0) this.log.warn({ dropped: this.droppedOffline, sent: kept.length }, 'events dropped during the NATS outage (offline buffer full)');
    this.droppedOffline = 0;
    for (const { subject, raw } of kept) this.send(subject, raw);
  }

  private setStatus(status: BusStatus): void {
    if (status === this.current) return;
    this.current = status;
    if (status === 'online') this.sendKeptEvents();
    for (const listener of [...this.statusListeners]) {
      try {
        listener(status);
      } catch (thrown) {
        this.log.error({ err: toError(thrown), status }, 'bus status listener failed');
      }
    }
  }
}

function requestError(subject: string, timeoutMs: number, err: Error): ReeveError {
  if (err instanceof natsErrors.NoRespondersError || err.cause instanceof natsErrors.NoRespondersError) return noResponders(subject, err);
  if (err instanceof natsErrors.ClosedConnectionError || err instanceof natsErrors.DrainingConnectionError) return busClosed(subject);
  if (err instanceof natsErrors.TimeoutError || err.cause instanceof natsErrors.TimeoutError) return requestTimedOut(subject, timeoutMs, err);
  return requestFailed(subject, err);
}

/** True when the promise settled in time (a rejection counts as settled: there is nothing more to wait for). */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
