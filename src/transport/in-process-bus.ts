import type { Bus, BusMessage, BusStatus, SubscribeOptions, Subscription } from '../ports/bus.ts';
import type { Logger } from '../ports/logger.ts';
import type { Timers } from '../ports/timers.ts';
import { decodeMessage, encodePayload, encodeRequest } from './bus-message.ts';
import { reportHandlerFailure } from './handler-failure.ts';
import { busClosed, noResponders, requestTimedOut } from './request-errors.ts';
import { assertPublishSubject, isWildcardPattern, matchesPattern, parsePattern } from './subject-pattern.ts';

export interface InProcessBusOptions {
  /** Where a handler that throws or rejects is reported. */
  log: Logger;
  /** Request timeouts; default the global timers, looked up at call time so fake timers apply. */
  timers?: Timers;
}

interface LocalSubscription {
  pattern: string;
  tokens: string[];
  handler: (message: BusMessage) => void | Promise<void>;
  isActive: boolean;
  queue?: string;
}

const globalTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

let busCount = 0;

/**
 * The bus of embedded mode: one process, no server, NATS semantics. Delivery is asynchronous
 * (a microtask per delivery, so a handler never runs inside the publisher's call, and vitest's
 * fake timers, which fake setImmediate, do not stall it); every subscriber parses its own copy
 * of the JSON text, when it first reads it; a subscription matches at publish time, and one removed before its
 * delivery runs does not receive it (the NATS client drops it too).
 */
export class InProcessBus implements Bus {
  /** There is no connection to lose. */
  readonly status: BusStatus = 'online';
  private readonly log: Logger;
  private readonly timers: Timers;
  /** Literal subjects are looked up directly: request inboxes would otherwise make every publish scan them all. */
  private readonly literal = new Map<string, Set<LocalSubscription>>();
  private readonly wildcard = new Set<LocalSubscription>();
  private readonly pendingRequests = new Set<(err: Error) => void>();
  private readonly inboxPrefix = `_INBOX.local${++busCount}`;
  private inboxCount = 0;
  private isClosed = false;

  constructor(options: InProcessBusOptions) {
    this.log = options.log;
    this.timers = options.timers ?? globalTimers;
  }

  publish(subject: string, data: unknown): void {
    assertPublishSubject(subject);
    const raw = encodePayload(subject, data);
    if (!this.isClosed) this.dispatch(subject, raw, undefined);
  }

  subscribe(subject: string, handler: (message: BusMessage) => void | Promise<void>, options: SubscribeOptions = {}): Subscription {
    const tokens = parsePattern(subject);
    if (this.isClosed) throw busClosed(subject);
    const sub: LocalSubscription = { pattern: subject, tokens, handler, isActive: true, ...(options.queue === undefined ? {} : { queue: options.queue }) };
    if (isWildcardPattern(tokens)) this.wildcard.add(sub);
    else {
      let set = this.literal.get(subject);
      if (!set) this.literal.set(subject, (set = new Set()));
      set.add(sub);
    }
    return { unsubscribe: () => this.remove(sub) };
  }

  async request(subject: string, data: unknown, timeoutMs: number): Promise<BusMessage> {
    const raw = encodeRequest(subject, data, timeoutMs);
    if (this.isClosed) throw busClosed(subject);
    const inbox = `${this.inboxPrefix}.${++this.inboxCount}`;
    return await new Promise<BusMessage>((resolve, reject) => {
      const finish = (outcome: () => void) => {
        this.pendingRequests.delete(fail);
        this.timers.clearTimeout(timer);
        replies.unsubscribe();
        outcome();
      };
      const fail = (err: Error) => finish(() => reject(err));
      const replies = this.subscribe(inbox, (reply) => finish(() => resolve(reply)));
      const timer = this.timers.setTimeout(() => fail(requestTimedOut(subject, timeoutMs)), timeoutMs);
      this.pendingRequests.add(fail);
      // NATS answers a request nobody listens to at once with "no responders"; so does this bus.
      if (this.dispatch(subject, raw, inbox) === 0) fail(noResponders(subject));
    });
  }

  onStatus(_listener: (status: BusStatus) => void): () => void {
    return () => {};
  }

  /** Resolves once every message published before the call has been handed to its handlers. */
  flush(): Promise<void> {
    return new Promise((resolve) => queueMicrotask(resolve));
  }

  /** Drops every subscription and fails pending requests; later publishes are ignored. */
  async close(): Promise<void> {
    if (this.isClosed) return;
    this.isClosed = true;
    for (const fail of [...this.pendingRequests]) fail(busClosed('a pending request'));
    for (const set of this.literal.values()) for (const sub of set) sub.isActive = false;
    for (const sub of this.wildcard) sub.isActive = false;
    this.literal.clear();
    this.wildcard.clear();
  }

  /**
   * Schedules the deliveries to every matching subscription, in one microtask per message rather
   * than one per subscriber (the order is the same: nothing else could run between them); returns
   * how many. A live view's subscriber on task events then costs the node a call, not a task.
   */
  private dispatch(subject: string, raw: string, reply: string | undefined): number {
    const literal = this.literal.get(subject);
    const matching = literal ? [...literal] : [];
    if (this.wildcard.size > 0) {
      const tokens = subject.split('.');
      for (const sub of this.wildcard) if (matchesPattern(sub.tokens, tokens)) matching.push(sub);
    }
    const targets = oneOfEachQueue(matching);
    if (targets.length > 0) queueMicrotask(() => this.deliverAll(targets, subject, raw, reply));
    return targets.length;
  }

  private deliverAll(targets: LocalSubscription[], subject: string, raw: string, reply: string | undefined): void {
    for (const sub of targets) this.deliver(sub, subject, raw, reply);
  }

  private deliver(sub: LocalSubscription, subject: string, raw: string, reply: string | undefined): void {
    if (!sub.isActive) return;
    const failed = (thrown: unknown) => reportHandlerFailure(this.log, thrown, subject, sub.pattern);
    try {
      const result = sub.handler(decodeMessage(subject, raw, reply));
      if (result && typeof (result as Promise<void>).then === 'function') (result as Promise<void>).then(undefined, failed);
    } catch (thrown) {
      failed(thrown);
    }
  }

  private remove(sub: LocalSubscription): void {
    if (!sub.isActive) return;
    sub.isActive = false;
    if (this.wildcard.delete(sub)) return;
    const set = this.literal.get(sub.pattern);
    set?.delete(sub);
    if (set?.size === 0) this.literal.delete(sub.pattern);
  }
}

/** NATS queue groups: every plain subscriber gets a message, each queue group one member (picked at random, as the server does). */
function oneOfEachQueue(subs: LocalSubscription[]): LocalSubscription[] {
  if (!subs.some((s) => s.queue !== undefined)) return subs;
  const groups = new Map<string, LocalSubscription[]>();
  const targets: LocalSubscription[] = [];
  for (const sub of subs) {
    if (sub.queue === undefined) targets.push(sub);
    else groups.set(sub.queue, [...(groups.get(sub.queue) ?? []), sub]);
  }
  for (const members of groups.values()) targets.push(members[Math.floor(Math.random() * members.length)]!);
  return targets;
}
