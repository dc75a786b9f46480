/**
 * The submission stream and its one shared consumer (DESIGN.md, "Multi-node over NATS"):
 * a JetStream work-queue stream on `<prefix>.submit`, deduplicating on `Nats-Msg-Id`, and a
 * durable pull consumer every node pulls from.
 *
 * Consumer settings and why:
 * - `ack_policy: explicit`, `ack_wait` 30 s: the intake acks a message only once its task record
 *   (or its dead letter) exists, so an intake that dies mid-write leaves the message to be
 *   redelivered to another node after ack_wait. The store is idempotent on the task id, so a
 *   redelivery after a write whose ack was lost finds the task and is counted as a duplicate.
 * - `max_deliver` INTAKE_MAX_DELIVER: redelivery is bounded for every cause. The intake rejects
 *   (dead letter + rejected event, then ack) every message whose failure would repeat, and naks
 *   only a message whose store write failed (transient), with a delay growing to 30 s, so the
 *   bound is reached only after ~13 minutes of a store that refuses every write, or by a cause
 *   nobody foresaw. On nats-server 2.9.10 a message at max_deliver stays in a work-queue stream,
 *   never delivered again: max-deliveries.ts handles the server's MAX_DELIVERIES advisory by
 *   keeping the message as a dead letter and deleting it from the stream. An existing consumer
 *   with another max_deliver (older Reeve versions created it unlimited) is updated to it.
 * - No consumer `backoff`: the intake uses `nak(delay)`, and DESIGN.md says not to mix them.
 *
 * An existing stream or consumer whose settings would break these rules is refused with a
 * CONFIG_INVALID error naming it, what differs and the fix; it is never changed or deleted
 * here, since it may hold submissions.
 */
import {
  AckPolicy,
  DeliverPolicy,
  JetStreamApiError,
  ReplayPolicy,
  RetentionPolicy,
  StorageType,
  type Consumer,
  type ConsumerInfo,
  type JetStreamManager,
  type StreamInfo,
} from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import { ErrorCode, ReeveError, toError } from '../errors.ts';
import type { Logger } from '../ports/logger.ts';

/** The shared durable consumer's default name. */
export const INTAKE_CONSUMER = 'reeve-intake';
/** How long a delivered message may stay unacked before the server hands it to another node. */
export const INTAKE_ACK_WAIT_MS = 30_000;
/** Deliveries of one submission before the server gives up on it (see max-deliveries.ts). */
export const INTAKE_MAX_DELIVER = 30;

export interface SubmitStreamOptions {
  /** Stream name (`nats.stream`, default REEVE_SUBMIT). */
  stream: string;
  /** The submit subject (`subjects(prefix).submit`). */
  subject: string;
  /** 1, 3 or 5 (`nats.replicas`): used only when the stream is created. */
  replicas: number;
  /** `Nats-Msg-Id` deduplication window (`nats.duplicateWindowMs`). */
  duplicateWindowMs: number;
  /** Durable consumer name; default `reeve-intake`. */
  consumer?: string;
  /** Consumer ack_wait when created; default 30 000 ms. */
  ackWaitMs?: number;
  /** Consumer max_deliver; default INTAKE_MAX_DELIVER. */
  maxDeliver?: number;
  /** Told what was created, and about harmless differences (replicas, window) of existing ones. */
  log?: Logger;
}

/** JetStream API error codes (`err_code`) this module tells apart. */
const API = {
  StreamNotFound: 10059,
  ConsumerNotFound: 10014,
  StreamNameInUse: 10058,
  SubjectsOverlap: 10065,
  ConsumerNotUniqueOnWorkqueue: 10100,
  ConsumerNameInUse: 10013,
  ConsumerAlreadyExists: 10148,
} as const;

function apiCode(err: unknown): number | undefined {
  return err instanceof JetStreamApiError ? err.code : undefined;
}

/** NATS or JetStream did not answer as it should: not a config problem. */
function unavailable(err: unknown, what: string): ReeveError {
  if (err instanceof ReeveError) return err;
  const e = toError(err);
  return new ReeveError(
    ErrorCode.StoreUnavailable,
    `${what} failed: ${e.message}; check that the NATS servers are up with JetStream enabled (a fresh cluster needs ~10 s to elect a JetStream leader)`,
    { cause: err },
  );
}

function conflict(message: string, data: Record<string, unknown>): ReeveError {
  return new ReeveError(ErrorCode.ConfigInvalid, message, { data });
}

const streamFix = (stream: string) =>
  `delete it with \`nats stream rm ${stream}\` (only once it holds no submissions you need) or set another nats.stream / nats.prefix`;

/**
 * Creates the work-queue stream and the shared consumer, or verifies existing ones (idempotent),
 * and returns the consumer to pull from. CONFIG_INVALID when an existing one conflicts;
 * STORE_UNAVAILABLE when JetStream does not answer.
 */
export async function ensureSubmitStream(jsm: JetStreamManager, options: SubmitStreamOptions): Promise<Consumer> {
  const name = options.consumer ?? INTAKE_CONSUMER;
  if (await ensureStream(jsm, options)) options.log?.info({ stream: options.stream, subject: options.subject, replicas: options.replicas }, 'submission stream created');
  if (await ensureConsumer(jsm, options, name)) options.log?.info({ stream: options.stream, consumer: name }, 'intake consumer created');
  try {
    return await jsm.jetstream().consumers.get(options.stream, name);
  } catch (err) {
    throw unavailable(err, `opening consumer ${name} of stream ${options.stream}`);
  }
}

async function streamInfo(jsm: JetStreamManager, stream: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(stream);
  } catch (err) {
    if (apiCode(err) === API.StreamNotFound) return undefined;
    throw unavailable(err, `reading stream ${stream}`);
  }
}

async function ensureStream(jsm: JetStreamManager, o: SubmitStreamOptions): Promise<boolean> {
  // Two nodes starting together may both see no stream: the loser's add fails as "in use"
  // (or succeeds, the config being identical), and the second pass verifies what won.
  for (let pass = 0; pass < 2; pass++) {
    const existing = await streamInfo(jsm, o.stream);
    if (existing) {
      verifyStream(existing, o);
      return false;
    }
    try {
      await jsm.streams.add({
        name: o.stream,
        subjects: [o.subject],
        retention: RetentionPolicy.Workqueue,
        storage: StorageType.File,
        num_replicas: o.replicas,
        duplicate_window: nanos(o.duplicateWindowMs),
      });
      return true;
    } catch (err) {
      const code = apiCode(err);
      if (code === API.StreamNameInUse && pass === 0) continue;
      if (code === API.SubjectsOverlap) throw await overlapError(jsm, o);
      throw unavailable(err, `creating stream ${o.stream} on ${o.subject}`);
    }
  }
  throw unavailable(new Error('the stream was reported both missing and in use'), `creating stream ${o.stream}`);
}

async function overlapError(jsm: JetStreamManager, o: SubmitStreamOptions): Promise<ReeveError> {
  const owner = await jsm.streams.find(o.subject).catch(() => undefined);
  const who = owner ? `stream ${owner}` : 'another stream';
  return conflict(
    `cannot create stream ${o.stream}: ${who} already captures subject ${o.subject} (a subject belongs to one stream); ` +
      (owner ? `delete it with \`nats stream rm ${owner}\` or set nats.stream to "${owner}" if it is a Reeve submission stream, ` : '') +
      'or set another nats.prefix',
    { stream: o.stream, subject: o.subject, boundTo: owner },
  );
}

function verifyStream(info: StreamInfo, o: SubmitStreamOptions): void {
  const c = info.config;
  const differs: string[] = [];
  if (c.retention !== RetentionPolicy.Workqueue) differs.push(`its retention is ${c.retention}, not workqueue`);
  const subjects = c.subjects ?? [];
  if (subjects.length !== 1 || subjects[0] !== o.subject) {
    differs.push(`its subjects are ${JSON.stringify(subjects)}, not ["${o.subject}"]`);
  }
  if (differs.length > 0) {
    throw conflict(`stream ${o.stream} exists but ${differs.join(' and ')}; ${streamFix(o.stream)}`, {
      stream: o.stream,
      subject: o.subject,
      differs,
    });
  }
  const soft: Record<string, unknown> = {};
  if (c.num_replicas !== o.replicas) soft.replicas = { existing: c.num_replicas, configured: o.replicas };
  if (c.duplicate_window !== nanos(o.duplicateWindowMs)) {
    soft.duplicateWindowMs = { existing: c.duplicate_window / 1e6, configured: o.duplicateWindowMs };
  }
  if (Object.keys(soft).length > 0) {
    o.log?.warn({ stream: o.stream, ...soft }, 'submission stream differs from config; using it as it is');
  }
}

async function consumerInfo(jsm: JetStreamManager, stream: string, name: string): Promise<ConsumerInfo | undefined> {
  try {
    return await jsm.consumers.info(stream, name);
  } catch (err) {
    if (apiCode(err) === API.ConsumerNotFound) return undefined;
    throw unavailable(err, `reading consumer ${name} of stream ${stream}`);
  }
}

async function ensureConsumer(jsm: JetStreamManager, o: SubmitStreamOptions, name: string): Promise<boolean> {
  for (let pass = 0; pass < 2; pass++) {
    const existing = await consumerInfo(jsm, o.stream, name);
    if (existing) {
      verifyConsumer(existing, o, name);
      await boundDeliveries(jsm, existing, o, name);
      return false;
    }
    try {
      await jsm.consumers.add(o.stream, {
        durable_name: name,
        ack_policy: AckPolicy.Explicit,
        ack_wait: nanos(o.ackWaitMs ?? INTAKE_ACK_WAIT_MS),
        max_deliver: o.maxDeliver ?? INTAKE_MAX_DELIVER,
        filter_subject: o.subject,
        deliver_policy: DeliverPolicy.All,
        replay_policy: ReplayPolicy.Instant,
      });
      return true;
    } catch (err) {
      const code = apiCode(err);
      if ((code === API.ConsumerNameInUse || code === API.ConsumerAlreadyExists) && pass === 0) continue;
      if (code === API.ConsumerNotUniqueOnWorkqueue) throw await notUniqueError(jsm, o, name);
      throw unavailable(err, `creating consumer ${name} on stream ${o.stream}`);
    }
  }
  throw unavailable(new Error('the consumer was reported both missing and in use'), `creating consumer ${name}`);
}

/** A work-queue stream lets only one consumer take each subject: name the ones in the way. */
async function notUniqueError(jsm: JetStreamManager, o: SubmitStreamOptions, name: string): Promise<ReeveError> {
  const others: string[] = [];
  try {
    for await (const c of jsm.consumers.list(o.stream)) if (c.name !== name) others.push(c.name);
  } catch {
    // The listing only improves the message.
  }
  const list = others.length > 0 ? others.join(', ') : 'another consumer';
  const rm = others.map((c) => `\`nats consumer rm ${o.stream} ${c}\``).join(', ') || `\`nats consumer rm ${o.stream} NAME\``;
  return conflict(
    `cannot create consumer ${name} on stream ${o.stream}: ${list} already consumes ${o.subject}, and a work-queue stream gives each message to one consumer only; ` +
      `delete it with ${rm}, or set another nats.stream / nats.prefix`,
    { stream: o.stream, consumer: name, others },
  );
}

/** Sets the consumer's max_deliver to the bound when it differs (unlimited on consumers of older versions). */
async function boundDeliveries(jsm: JetStreamManager, info: ConsumerInfo, o: SubmitStreamOptions, name: string): Promise<void> {
  const want = o.maxDeliver ?? INTAKE_MAX_DELIVER;
  if (info.config.max_deliver === want) return;
  try {
    await jsm.consumers.update(o.stream, name, { max_deliver: want });
  } catch (err) {
    throw unavailable(err, `setting max_deliver ${want} on consumer ${name} of stream ${o.stream}`);
  }
  o.log?.info({ stream: o.stream, consumer: name, from: info.config.max_deliver, maxDeliver: want }, 'intake consumer max_deliver set');
}

function verifyConsumer(info: ConsumerInfo, o: SubmitStreamOptions, name: string): void {
  const c = info.config;
  const differs: string[] = [];
  if (c.deliver_subject) differs.push(`it is a push consumer (deliver_subject ${c.deliver_subject}), not a pull consumer`);
  if (c.ack_policy !== AckPolicy.Explicit) differs.push(`its ack_policy is ${c.ack_policy}, not explicit`);
  if ((c.filter_subject ?? '') !== o.subject) differs.push(`its filter_subject is "${c.filter_subject ?? ''}", not "${o.subject}"`);
  if (c.backoff && c.backoff.length > 0) differs.push('it has a backoff list, which must not be mixed with nak(delay)');
  if (differs.length > 0) {
    throw conflict(
      `consumer ${name} of stream ${o.stream} exists but ${differs.join('; ')}; delete it with \`nats consumer rm ${o.stream} ${name}\` ` +
        '(Reeve recreates it; unacked submissions stay in the stream) or set another nats.stream / nats.prefix',
      { stream: o.stream, consumer: name, differs },
    );
  }
  const ackWait = nanos(o.ackWaitMs ?? INTAKE_ACK_WAIT_MS);
  if (c.ack_wait !== ackWait) {
    o.log?.warn({ stream: o.stream, consumer: name, ackWaitMs: (c.ack_wait ?? 0) / 1e6 }, 'intake consumer ack_wait differs from the default; using it as it is');
  }
}
