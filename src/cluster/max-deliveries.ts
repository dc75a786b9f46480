/**
 * The last step of bounded redelivery (see submit-stream.ts): a submission delivered
 * `max_deliver` times without being stored or rejected. nats-server 2.9.10 then stops
 * delivering it but keeps it in the work-queue stream for ever, and says so only once, in the
 * advisory `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.<stream>.<consumer>` (STACK.md section 4).
 *
 * Every node subscribes in one queue group, so each advisory reaches one node, which reads the
 * message by its stream sequence, keeps it as a dead letter (code MAX_DELIVERIES, with the
 * body's `id` when it has one), announces it on `<prefix>.events.rejected`, and deletes it from
 * the stream. A failed step is retried with backoff (the store may be what failed the
 * deliveries); a message already gone (deleted by an earlier try) ends the handling. The dead
 * letter is written before the delete, so a node dying in between leaves the message in the
 * stream (no loss) rather than dropping it unrecorded.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { JetStreamApiError, type JetStreamManager, type StoredMsg } from '@nats-io/jetstream';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { toError } from '../errors.ts';
import type { Bus } from '../ports/bus.ts';
import type { Clock } from '../ports/clock.ts';
import type { Logger } from '../ports/logger.ts';
import type { TaskStore } from '../ports/task-store.ts';
import { TASK_ID_PATTERN } from '../protocol/task.ts';
import type { Subjects } from '../protocol/subjects.ts';
import { payloadExcerpt } from '../protocol/excerpt.ts';

/** The dead-letter and rejected-event code of a submission that hit max_deliver. Never renamed. */
export const MAX_DELIVERIES_CODE = 'MAX_DELIVERIES';
const QUEUE_GROUP = 'reeve-max-deliveries';
/** JetStream API error code of "no message found". */
const NO_MESSAGE = 10037;

export interface MaxDeliveriesOptions {
  nc: NatsConnection;
  jsm: JetStreamManager;
  stream: string;
  consumer: string;
  store: Pick<TaskStore, 'addDeadLetter'>;
  bus: Pick<Bus, 'publish'>;
  subjects: Pick<Subjects, 'rejected'>;
  clock: Clock;
  log: Logger;
  /** Tries per advisory before giving up (the message then stays in the stream); default 10. */
  attempts?: number;
  /** First pause between tries, doubled up to 10 s; default 500 ms. */
  pauseMs?: number;
}

export function advisorySubject(stream: string, consumer: string): string {
  return `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${stream}.${consumer}`;
}

/** Subscribes to the advisory; `close()` unsubscribes and waits for handlings in progress. */
export function handleMaxDeliveries(o: MaxDeliveriesOptions): { close(): Promise<void> } {
  const inFlight = new Set<Promise<void>>();
  const closing = new AbortController();
  const sub: Subscription = o.nc.subscribe(advisorySubject(o.stream, o.consumer), {
    queue: QUEUE_GROUP,
    callback: (err, msg) => {
      if (err) return;
      let advisory: { stream_seq?: unknown; deliveries?: unknown };
      try {
        advisory = msg.json();
      } catch {
        return;
      }
      const seq = advisory.stream_seq;
      if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 1) return;
      const deliveries = typeof advisory.deliveries === 'number' ? advisory.deliveries : undefined;
      const work = settle(o, seq, deliveries, closing.signal).finally(() => inFlight.delete(work));
      inFlight.add(work);
    },
  });
  return {
    close: async () => {
      closing.abort();
      sub.unsubscribe();
      await Promise.all(inFlight);
    },
  };
}

async function settle(o: MaxDeliveriesOptions, seq: number, deliveries: number | undefined, closing: AbortSignal): Promise<void> {
  const attempts = o.attempts ?? 10;
  let pause = o.pauseMs ?? 500;
  // Once the dead letter is written, a retry only deletes: one advisory, one dead letter.
  const progress = { lettered: false };
  for (let attempt = 1; ; attempt++) {
    try {
      await deadLetter(o, seq, deliveries, progress);
      return;
    } catch (err) {
      if (attempt >= attempts || closing.aborted) {
        o.log.error({ err: toError(err), stream: o.stream, seq }, 'could not dead-letter a submission that reached max_deliver; it stays in the stream (delete it with `nats stream rmm`)');
        return;
      }
      o.log.warn({ err: toError(err), stream: o.stream, seq, attempt }, 'dead-lettering a submission that reached max_deliver failed; retrying');
      await sleep(pause, undefined, { signal: closing }).catch(() => undefined);
      pause = Math.min(pause * 2, 10_000);
    }
  }
}

async function deadLetter(o: MaxDeliveriesOptions, seq: number, deliveries: number | undefined, progress: { lettered: boolean }): Promise<void> {
  if (progress.lettered) return remove(o, seq);
  let stored: StoredMsg | null;
  try {
    stored = await o.jsm.streams.getMessage(o.stream, { seq });
  } catch (err) {
    if (err instanceof JetStreamApiError && err.code === NO_MESSAGE) return; // handled already
    throw err;
  }
  if (!stored) return;
  const payload = new TextDecoder('utf-8').decode(stored.data);
  const id = idOf(stored, payload);
  const source = `nats:${stored.subject}`;
  const times = deliveries === undefined ? 'the maximum number of times' : `${deliveries} times`;
  const reason =
    `delivered ${times} without being stored (each try failed, usually because the task store could not be written); ` +
    'the node logs say why: fix that, then submit it again from this dead letter';
  await o.store.addDeadLetter({ source, code: MAX_DELIVERIES_CODE, reason, payload, ...(id === undefined ? {} : { id }) });
  progress.lettered = true;
  try {
    o.bus.publish(o.subjects.rejected, { code: MAX_DELIVERIES_CODE, reason, receivedAt: o.clock.now(), ...(id === undefined ? {} : { id }), excerpt: payloadExcerpt(payload) });
  } catch (err) {
    o.log.warn({ err: toError(err) }, 'rejected event not published'); // the dead letter is the record
  }
  o.log.warn({ code: MAX_DELIVERIES_CODE, id, seq, source, deliveries }, 'submission rejected');
  await remove(o, seq);
}

async function remove(o: MaxDeliveriesOptions, seq: number): Promise<void> {
  await o.jsm.streams.deleteMessage(o.stream, seq, false).catch((err: unknown) => {
    if (!(err instanceof JetStreamApiError && err.code === NO_MESSAGE)) throw err;
  });
}

/** The body's `id` when it parses and has a valid one, else a valid `Nats-Msg-Id` header. */
function idOf(stored: StoredMsg, payload: string): string | undefined {
  try {
    const body: unknown = JSON.parse(payload);
    const id = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as { id?: unknown }).id : undefined;
    if (typeof id === 'string' && TASK_ID_PATTERN.test(id)) return id;
  } catch {
    // not JSON: the header may still name it
  }
  const header = stored.header?.get('Nats-Msg-Id');
  return header && TASK_ID_PATTERN.test(header) ? header : undefined;
}
