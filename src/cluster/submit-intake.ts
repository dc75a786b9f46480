/**
 * Moves submissions from the JetStream work queue (`<prefix>.submit`) into the task store.
 * Every node runs one; they share the durable consumer, so each message goes to one node.
 *
 * Per message: decode, validate, then either `store.submit` (idempotent on the task id) or keep
 * it as a dead letter and announce it on `<prefix>.events.rejected`; ack only after that record
 * exists. Only a store that cannot be reached (STORE_UNAVAILABLE, a lost compare-and-set)
 * leaves the message unacked: it is nak'ed with a growing delay and comes back. Any other
 * failure would repeat on every delivery, so the message is rejected (UNPROCESSABLE). The
 * consumer's max_deliver bounds redelivery for every cause, and max-deliveries.ts dead-letters
 * a message that reaches it. Nothing a publisher sends can loop or stop the ones behind it.
 *
 * Task id rules (DESIGN.md, "External contract" > NATS):
 * - The body's `id` is the task id. A `Nats-Msg-Id` header, when present, must equal it; a
 *   header with no `id` in the body is rejected too (ID_MISMATCH), since the header only serves
 *   server-side deduplication and guessing which one the publisher meant would hide a bug.
 * - A body with neither gets an id derived from the stored message (time and stream sequence),
 *   not a random one: a redelivery of a message whose ack was lost then finds its task again
 *   instead of creating a second one.
 *
 * Pulling: `consumer.fetch` streams messages as the server sends them, and each is handled at
 * once (the batch does not wait to fill). The client refuses `expires` under 1 s, so a pull that
 * finds fewer than `max` messages returns after about a second; the messages it got are stored
 * long before. Measured on one 2.9.10 server over loopback, 5 000 queued messages:
 * - the client alone (fetch and ack, no store): 100 at a time 16 700 msg/s, 10 at a time
 *   10 700/s, `next()` one at a time 2 200/s;
 * - `pull(n)` into an in-memory SQLite store: n=100 3 800/s, n=10 2 750/s, n=1 900/s; with a
 *   no-op store n=100 15 000/s. So the intake costs ~70 µs a message and the store the rest.
 * Acks are `ack()`, not `ackAck()`: waiting for the server's confirmation cost 25 % at n=100,
 * and a lost ack only means a redelivery that the store absorbs (same id, `created: false`).
 */
import type { Consumer, JsMsg } from '@nats-io/jetstream';
import type { z } from 'zod';
import { ErrorCode, ReeveError, toError } from '../errors.ts';
import type { Bus } from '../ports/bus.ts';
import type { Clock } from '../ports/clock.ts';
import type { Logger } from '../ports/logger.ts';
import type { TaskStore } from '../ports/task-store.ts';
import { rejectedEventSchema, submitMessageSchema } from '../protocol/messages.ts';
import { inputShapeIssue, MAX_INPUT_BYTES, TASK_ID_PATTERN, type SubmitRequest } from '../protocol/task.ts';
import { payloadExcerpt } from '../protocol/excerpt.ts';
import type { Subjects } from '../protocol/subjects.ts';
import { backoffDelay } from '../machines/backoff.ts';

/** Codes of `reeve.events.rejected` and of the dead letters the intake keeps. Never renamed. */
export const SubmitRejectCode = {
  /** Not UTF-8, or not JSON. */
  InvalidJson: 'INVALID_JSON',
  /** JSON, but not a valid submission (the reason names each field). */
  InvalidInput: 'INVALID_INPUT',
  UnknownKind: 'UNKNOWN_KIND',
  /** The message or its `input` is over the limit, or the record over the server's max_payload. */
  InputTooLarge: 'INPUT_TOO_LARGE',
  /** A `Nats-Msg-Id` header that is not the body's `id`. */
  IdMismatch: 'ID_MISMATCH',
  /**
   * Handling it failed in a way every redelivery would repeat (a bug, a limit nobody checked):
   * kept as a dead letter rather than redelivered for ever.
   */
  Unprocessable: 'UNPROCESSABLE',
  /** Delivered max_deliver times without being stored (see max-deliveries.ts). */
  MaxDeliveries: 'MAX_DELIVERIES',
} as const;
export type SubmitRejectCode = (typeof SubmitRejectCode)[keyof typeof SubmitRejectCode];

/** Room for the envelope around a maximal input before a message is refused unread. */
const ENVELOPE_BYTES = 64 * 1024;
const MSG_ID_HEADER = 'Nats-Msg-Id';

export interface SubmitIntakeOptions {
  /** The shared durable pull consumer (see `ensureSubmitStream`). */
  consumer: Consumer;
  store: Pick<TaskStore, 'submit' | 'addDeadLetter'>;
  bus: Pick<Bus, 'publish'>;
  subjects: Pick<Subjects, 'rejected'>;
  /** Whether this node can run a kind; asked on every message, so a config reload is seen. */
  knownKind: (kind: string) => boolean;
  /** The kinds to name in an UNKNOWN_KIND reason; without it the reason names none. */
  knownKinds?: () => Iterable<string>;
  /**
   * False while the answer of `knownKind` may still change (a node that just started has not
   * heard the other nodes' kinds yet): an unknown kind is then redelivered later, not rejected.
   */
  kindsSettled?: () => boolean;
  clock: Clock;
  log: Logger;
  /** Largest `input`, as UTF-8 JSON; default (and at most) 1 MiB, the contract's limit. */
  maxInputBytes?: number;
  /** How long a pull waits for messages when fewer than `max` are queued; default and minimum 1000 ms (a client limit). */
  pullWaitMs?: number;
  /** Delay of the first nak after a failed store write, doubled per delivery; default 1000 ms. */
  nakBaseMs?: number;
  /** Longest nak delay; default 30 000 ms. */
  nakMaxMs?: number;
  /** Called as each new task is stored (before the pull ends): the dispatcher can claim it at once. */
  onAccepted?: () => void;
}

export interface PullResult {
  /** New tasks stored. */
  accepted: number;
  /** Kept as dead letters and announced on the rejected subject. */
  rejected: number;
  /** Their task already existed (a redelivery, or a re-publish after the dedup window). */
  duplicates: number;
  /** Left unacked because the store failed: the caller should pause before pulling again. */
  deferred: number;
  /** The first store failure, when `deferred > 0`. */
  storeError?: Error;
}

type Outcome = { kind: 'accepted' | 'duplicate' | 'rejected' } | { kind: 'deferred'; err: Error };

interface Rejection {
  code: SubmitRejectCode;
  reason: string;
  id?: string;
}

type Verdict = { request: SubmitRequest } | { later: string } | Rejection;

export class SubmitIntake {
  readonly #o: SubmitIntakeOptions;
  readonly #maxInputBytes: number;
  readonly #decoder = new TextDecoder('utf-8', { fatal: true });
  readonly #lossy = new TextDecoder('utf-8');

  constructor(options: SubmitIntakeOptions) {
    this.#o = options;
    this.#maxInputBytes = Math.min(options.maxInputBytes ?? MAX_INPUT_BYTES, MAX_INPUT_BYTES);
  }

  /**
   * Takes at most `max` messages and handles each as it arrives, concurrently; resolves once
   * every one is acked or nak'ed. Throws (STORE_UNAVAILABLE) only when the fetch itself fails,
   * after the messages already received are settled.
   */
  async pull(max: number): Promise<PullResult> {
    const result: PullResult = { accepted: 0, rejected: 0, duplicates: 0, deferred: 0 };
    if (!Number.isInteger(max) || max < 1) return result;
    const pending: Array<Promise<void>> = [];
    const count = (outcome: Outcome) => {
      if (outcome.kind === 'accepted') {
        result.accepted++;
        this.#o.onAccepted?.();
      }
      else if (outcome.kind === 'duplicate') result.duplicates++;
      else if (outcome.kind === 'rejected') result.rejected++;
      else if (outcome.kind === 'deferred') {
        result.deferred++;
        result.storeError ??= outcome.err;
      }
    };
    let fetchError: unknown;
    try {
      const messages = await this.#o.consumer.fetch({ max_messages: max, expires: Math.max(1000, this.#o.pullWaitMs ?? 1000) });
      for await (const m of messages) pending.push(this.#handle(m).then(count));
    } catch (err) {
      fetchError = err;
    }
    await Promise.all(pending);
    if (fetchError !== undefined) {
      const e = toError(fetchError);
      throw new ReeveError(ErrorCode.StoreUnavailable, `pulling submissions failed: ${e.message}; check the NATS connection and that the submission stream and its consumer exist`, {
        cause: fetchError,
        data: { accepted: result.accepted, rejected: result.rejected, duplicates: result.duplicates, deferred: result.deferred },
      });
    }
    return result;
  }

  /**
   * Never rejects: every failure is an outcome. Starts the store write before its first await,
   * so writes keep message order. Only a store that could not be reached defers the message
   * (nak, redelivered later); a failure that would repeat on every delivery rejects it.
   */
  #handle(m: JsMsg): Promise<Outcome> {
    const receivedAt = this.#o.clock.now();
    let verdict: Verdict;
    try {
      verdict = this.#examine(m);
    } catch (err) {
      return this.#unprocessable(m, toError(err), receivedAt);
    }
    if ('later' in verdict) return this.#defer(m, new Error(verdict.later));
    if (!('request' in verdict)) return this.#reject(m, verdict, receivedAt).catch((err: unknown) => this.#defer(m, toError(err)));
    const id = verdict.request.id;
    return this.#accept(m, verdict.request).catch((err: unknown) =>
      isTransient(err) ? this.#defer(m, toError(err)) : this.#unprocessable(m, toError(err), receivedAt, id),
    );
  }

  /** Rejects a message whose handling threw something no redelivery would change. */
  #unprocessable(m: JsMsg, err: Error, receivedAt: number, id?: string): Promise<Outcome> {
    this.#o.log.error({ err, seq: safe(() => m.seq) }, 'handling a submission failed; keeping it as a dead letter instead of redelivering it');
    const reason = `the intake could not handle this submission (${err.name}: ${err.message}); it would fail the same way on every delivery, so it is kept here: report it, and submit it again once fixed`;
    return this.#reject(m, { code: SubmitRejectCode.Unprocessable, reason, ...optional(id) }, receivedAt).catch((e: unknown) => this.#defer(m, toError(e)));
  }

  /** Decodes and validates; pure apart from reading the message. */
  #examine(m: JsMsg): Verdict {
    const header = m.headers?.get(MSG_ID_HEADER) || undefined;
    const headerId = header !== undefined && TASK_ID_PATTERN.test(header) ? header : undefined;
    const limit = this.#maxInputBytes;
    if (m.data.length > limit + ENVELOPE_BYTES) {
      return {
        code: SubmitRejectCode.InputTooLarge,
        reason: `the message is ${m.data.length} bytes; a submission's input may be at most ${limit} bytes as JSON: pass a path or URL to large data instead`,
        ...optional(headerId),
      };
    }
    let text: string;
    try {
      text = this.#decoder.decode(m.data);
    } catch {
      return { code: SubmitRejectCode.InvalidJson, reason: 'the body is not valid UTF-8; send the submission as UTF-8 JSON (see docs/protocol/submit.json)', ...optional(headerId) };
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      return { code: SubmitRejectCode.InvalidJson, reason: `the body is not JSON (${toError(err).message}); send a JSON object such as {"kind":"echo","input":{}}`, ...optional(headerId) };
    }
    const bodyId = isRecord(body) && typeof body.id === 'string' && TASK_ID_PATTERN.test(body.id) ? body.id : undefined;
    const id = bodyId ?? headerId;
    if (isRecord(body) && body.input !== undefined) {
      // Before anything that walks the input recursively (JSON.stringify, zod): see inputShapeIssue.
      const shape = inputShapeIssue(body.input);
      if (shape !== undefined) return { code: SubmitRejectCode.InvalidInput, reason: `invalid submission: input: ${shape}; the message shape is in docs/protocol/submit.json`, ...optional(id) };
      const bytes = Buffer.byteLength(JSON.stringify(body.input) ?? '', 'utf8');
      if (bytes > limit) {
        return { code: SubmitRejectCode.InputTooLarge, reason: `input is ${bytes} bytes as JSON, over the ${limit}-byte limit; pass a path or URL to large data instead`, ...optional(id) };
      }
    }
    const parsed = submitMessageSchema.safeParse(body);
    if (!parsed.success) return { code: SubmitRejectCode.InvalidInput, reason: describeIssues(parsed.error), ...optional(id) };
    const request = parsed.data;
    if (header !== undefined && header !== request.id) {
      const reason =
        request.id === undefined
          ? `the message has a ${MSG_ID_HEADER} header (${JSON.stringify(header)}) but no "id" in its body; put the same value in "id" (the body's id is the task id)`
          : `the ${MSG_ID_HEADER} header ${JSON.stringify(header)} differs from the body's id ${JSON.stringify(request.id)}; send the same task id in both, or leave the header out`;
      return { code: SubmitRejectCode.IdMismatch, reason, ...optional(id) };
    }
    if (!this.#o.knownKind(request.kind)) {
      if (this.#o.kindsSettled && !this.#o.kindsSettled()) return { later: `kind ${JSON.stringify(request.kind)} is not known yet: this node is still learning the cluster's kinds` };
      return { code: SubmitRejectCode.UnknownKind, reason: this.#unknownKind(request.kind), ...optional(id) };
    }
    return { request: request.id === undefined ? { ...request, id: derivedId(m) } : request };
  }

  #unknownKind(kind: string): string {
    const known = this.#o.knownKinds ? [...this.#o.knownKinds()].sort() : undefined;
    const list = known === undefined ? '' : `; known kinds: ${known.length === 0 ? 'none' : known.slice(0, 20).join(', ')}${known.length > 20 ? ', …' : ''}`;
    return `unknown kind ${JSON.stringify(kind)}${list} (add it under "agents" in the config of every node)`;
  }

  async #accept(m: JsMsg, request: SubmitRequest): Promise<Outcome> {
    let created: boolean;
    try {
      ({ created } = await this.#o.store.submit(request));
    } catch (err) {
      const refused = refusedByStore(err, m.data.length);
      if (!refused) throw err;
      return this.#reject(m, { ...refused, ...optional(request.id) }, this.#o.clock.now());
    }
    this.#ack(m);
    this.#o.log.debug({ id: request.id, kind: request.kind, seq: m.seq, created }, created ? 'submission stored' : 'submission already stored');
    return { kind: created ? 'accepted' : 'duplicate' };
  }

  async #reject(m: JsMsg, r: Rejection, receivedAt: number): Promise<Outcome> {
    const payload = this.#lossy.decode(m.data);
    const source = `nats:${m.subject}`;
    await this.#o.store.addDeadLetter({ source, code: r.code, reason: r.reason, ...optional(r.id), payload });
    const event: z.infer<typeof rejectedEventSchema> = { code: r.code, reason: r.reason, receivedAt, ...optional(r.id), excerpt: payloadExcerpt(payload) };
    try {
      this.#o.bus.publish(this.#o.subjects.rejected, event);
    } catch (err) {
      // Events are best effort: the dead letter is the record.
      this.#o.log.warn({ err: toError(err) }, 'rejected event not published');
    }
    this.#ack(m);
    this.#o.log.warn({ code: r.code, reason: r.reason, id: r.id, seq: m.seq, source }, 'submission rejected');
    return { kind: 'rejected' };
  }

  /** The store could not write: leave the message for later (nak with a delay growing per delivery). */
  async #defer(m: JsMsg, err: Error): Promise<Outcome> {
    const deliveries = safe(() => m.info.deliveryCount) ?? 1;
    const base = this.#o.nakBaseMs ?? 1000;
    const delayMs = backoffDelay(deliveries - 1, { firstMs: base, maxMs: this.#o.nakMaxMs ?? 30_000 });
    try {
      m.nak(delayMs);
    } catch (nakErr) {
      // Not even the nak got out (connection lost): ack_wait brings the message back.
      this.#o.log.warn({ err: toError(nakErr) }, 'submission nak failed');
    }
    const code = err instanceof ReeveError ? err.code : undefined;
    // The reason, not the error object: a deferral is an expected outage (the store is busy or
    // unreachable), and a stack trace per redelivery would bury the log.
    this.#o.log.warn({ reason: toError(err).message, code, seq: safe(() => m.seq), deliveries, delayMs }, 'submission not stored; will be redelivered');
    return { kind: 'deferred', err };
  }

  #ack(m: JsMsg): void {
    try {
      m.ack();
    } catch (err) {
      // The record exists; a redelivery finds it (the store is idempotent on the id).
      this.#o.log.warn({ err: toError(err), seq: m.seq }, 'submission ack failed; it will be redelivered and found stored');
    }
  }
}

function optional(id: string | undefined): { id?: string } {
  return id === undefined ? {} : { id };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

/** Same stored message, same id: `t_` + its time (ms, base 36) + `_` + its stream sequence (base 36). */
function derivedId(m: JsMsg): string {
  return `t_${(m.timestampNanos / 1_000_000n).toString(36)}_${m.seq.toString(36)}`;
}

function describeIssues(error: z.ZodError): string {
  const issues = error.issues.slice(0, 10).map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
  const more = error.issues.length > 10 ? `; and ${error.issues.length - 10} more` : '';
  return `invalid submission: ${issues.join('; ')}${more}; the message shape is in docs/protocol/submit.json`;
}

/**
 * A store failure that may pass (unreachable, timeout, a lost compare-and-set): the message is
 * nak'ed and comes back. Anything else would fail again on the next delivery.
 */
function isTransient(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === ErrorCode.StoreUnavailable || code === ErrorCode.StoreConflict;
}

/**
 * A store error caused by the message itself, which no redelivery can fix: reject it instead
 * of deferring it for ever. Everything else (unreachable, timeouts) is transient.
 */
function refusedByStore(err: unknown, bytes: number): Omit<Rejection, 'id'> | undefined {
  if (!(err instanceof ReeveError)) return undefined;
  if (err.code === ErrorCode.InvalidInput) return { code: SubmitRejectCode.InvalidInput, reason: err.message };
  if (err.code === ErrorCode.StoreUnavailable && /max_payload/i.test(err.message)) {
    return {
      code: SubmitRejectCode.InputTooLarge,
      reason: `the task record for this ${bytes}-byte message is larger than the NATS server's max_payload; raise max_payload on every nats-server and replay the dead letter, or send a smaller input`,
    };
  }
  return undefined;
}

