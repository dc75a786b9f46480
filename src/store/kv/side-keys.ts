import type { KV } from '@nats-io/kv';
import { ErrorCode, ReeveError } from '../../errors.ts';
import type { Clock } from '../../ports/clock.ts';
import type { DeadLetter, DeadLetterInput, DeadLetterPurge } from '../../ports/task-store.ts';
import type { Annotation } from '../../protocol/task.ts';
import { parseOrThrow } from '../../protocol/validate.ts';
import { payloadExcerpt } from '../../protocol/excerpt.ts';
import { truncatePayload } from '../dead-letters.ts';
import * as schemas from '../request-schemas.ts';
import { annotationsKey, DEAD_LETTER_LOW_KEY, DEAD_LETTER_SEQ_KEY, deadLetterKey } from './codec.ts';
import { isCasConflict, storeError } from './task-keys.ts';

const MAX_RETRIES = 50;
/** Room left in a message for the JSON around a dead letter's payload and the headers. */
const LETTER_OVERHEAD_BYTES = 72 * 1024;

/**
 * Keys beside the tasks, each with its own compare-and-set: annotations (`a.<id>`, one JSON
 * array per task, so annotating never needs the task's revision) and dead letters (`dl.<n>`,
 * numbered by the counter `dl-seq`).
 */
export class SideKeys {
  constructor(
    private readonly kv: KV,
    private readonly clock: Clock,
    /** The server's max_payload: a dead letter is cut to fit rather than lost. */
    private readonly maxPayload: () => number,
    /** Writes the letter's `deadletter` notification (before the letter: see kv-outbox.ts). */
    private readonly notify: (letter: Omit<DeadLetter, 'payload'>) => Promise<void> = async () => undefined,
  ) {}

  /** Get, then create or update against the revision read, again on a lost race. */
  async #casLoop<T>(key: string, what: string, next: (current: T | undefined) => T): Promise<{ value: T; revision: number }> {
    for (let attempt = 0; attempt < MAX_RETRIES; attempt++) {
      try {
        const entry = await this.kv.get(key);
        const exists = entry !== null && entry.operation === 'PUT';
        const value = next(exists ? entry.json<T>() : undefined);
        const data = JSON.stringify(value);
        const revision = entry === null ? await this.kv.create(key, data) : await this.kv.update(key, data, entry.revision);
        return { value, revision };
      } catch (err) {
        if (!isCasConflict(err)) throw storeError(err, what);
      }
    }
    throw new ReeveError(ErrorCode.StoreConflict, `${what}: ${key} changed under ${MAX_RETRIES} writes in a row; retry`);
  }

  async annotations(id: string): Promise<Annotation[]> {
    try {
      const entry = await this.kv.get(annotationsKey(id));
      return entry && entry.operation === 'PUT' ? entry.json<Annotation[]>() : [];
    } catch (err) {
      throw storeError(err, `reading the annotations of task ${id}`);
    }
  }

  /** The caller has checked that the task exists. */
  async annotate(id: string, note: { author: string; text: string }): Promise<void> {
    const at = this.clock.now();
    await this.#casLoop<Annotation[]>(annotationsKey(id), `annotating task ${id}`, (list) => [...(list ?? []), { at, ...note }]);
  }

  async addDeadLetter(letter: DeadLetterInput): Promise<DeadLetter> {
    const input = parseOrThrow(schemas.deadLetterSchema, letter, 'dead letter');
    const receivedAt = this.clock.now();
    const { value: seq } = await this.#casLoop<number>(DEAD_LETTER_SEQ_KEY, 'numbering a dead letter', (n) => (n ?? 0) + 1);
    const { id, ...rest } = input;
    const stored: DeadLetter = {
      ...rest,
      ...(id === undefined ? {} : { id }),
      payload: fitPayload(truncatePayload(input.payload), this.maxPayload() - LETTER_OVERHEAD_BYTES),
      excerpt: payloadExcerpt(input.payload),
      receivedAt,
      seq,
    };
    const { payload: _payload, ...summary } = stored;
    await this.notify(summary);
    try {
      await this.kv.put(deadLetterKey(seq), JSON.stringify(stored));
    } catch (err) {
      throw storeError(err, 'keeping a dead letter');
    }
    return stored;
  }

  /**
   * Newest first: reads the counter, then `dl.<n>` downwards, `limit` keys at a time in
   * parallel. A number whose letter was never written (a writer died between the counter and
   * the letter) is skipped. Cost: O(limit) gets.
   */
  async listDeadLetters(limit = 100): Promise<DeadLetter[]> {
    parseOrThrow(schemas.limitArg, limit, 'limit');
    try {
      const counter = await this.kv.get(DEAD_LETTER_SEQ_KEY);
      let next = counter && counter.operation === 'PUT' ? counter.json<number>() : 0;
      const letters: DeadLetter[] = [];
      while (next > 0 && letters.length < limit) {
        const seqs = Array.from({ length: Math.min(limit - letters.length, next) }, (_, i) => next - i);
        next -= seqs.length;
        const entries = await Promise.all(seqs.map((seq) => this.kv.get(deadLetterKey(seq))));
        for (const entry of entries) if (entry && entry.operation === 'PUT') letters.push(entry.json<DeadLetter>());
      }
      return letters;
    } catch (err) {
      throw storeError(err, 'listing dead letters');
    }
  }
  /**
   * Oldest first from the low-water hint `dl-low` up: letters are numbered in arrival order,
   * so the walk stops at the first one received at or after `before`. Numbers with no letter
   * are stepped over. The hint then moves up to the first number that may still hold a letter,
   * so a later purge does not walk the purged range again; it does not move past a missing
   * number unless a later letter is over a minute old (a writer takes its number before it
   * writes the letter, so a fresh gap may still be filled). Cost: one get per number walked.
   */
  async purgeDeadLetters(request: DeadLetterPurge): Promise<{ seqs: number[]; dryRun: boolean }> {
    const req = parseOrThrow(schemas.deadLetterPurgeSchema, request, 'dead letter purge');
    const limit = req.limit ?? 1000;
    const dryRun = req.dryRun ?? false;
    const settledBefore = this.clock.now() - GAP_SETTLED_MS;
    try {
      const counter = await this.kv.get(DEAD_LETTER_SEQ_KEY);
      const last = counter && counter.operation === 'PUT' ? counter.json<number>() : 0;
      const hint = await this.kv.get(DEAD_LETTER_LOW_KEY);
      let next = Math.max(1, hint && hint.operation === 'PUT' ? Number(hint.json<number>()) || 1 : 1);
      const start = next;
      const seqs: number[] = [];
      let low = start;
      let lowFrozen = false;
      let gap = false;
      let done = false;
      while (next <= last && !done) {
        const chunk = Array.from({ length: Math.min(PURGE_CHUNK, last - next + 1) }, (_, i) => next + i);
        next += chunk.length;
        const entries = await Promise.all(chunk.map((seq) => this.kv.get(deadLetterKey(seq))));
        for (let i = 0; i < chunk.length && !done; i++) {
          const seq = chunk[i]!;
          const entry = entries[i];
          if (!entry || entry.operation !== 'PUT') {
            gap = true;
            continue;
          }
          const letter = entry.json<DeadLetter>();
          if (gap && letter.receivedAt >= settledBefore) lowFrozen = true;
          gap = false;
          if (letter.receivedAt >= req.before || seqs.length >= limit) {
            done = true;
            continue;
          }
          seqs.push(seq);
          if (!lowFrozen) low = seq + 1;
        }
      }
      if (!dryRun) {
        for (let i = 0; i < seqs.length; i += PURGE_CHUNK) await Promise.all(seqs.slice(i, i + PURGE_CHUNK).map((seq) => this.kv.purge(deadLetterKey(seq))));
        if (low > start) await this.kv.put(DEAD_LETTER_LOW_KEY, JSON.stringify(low));
      }
      return { seqs, dryRun };
    } catch (err) {
      throw storeError(err, 'purging dead letters');
    }
  }


}

/** Dead letters read at once while purging. */
const PURGE_CHUNK = 256;
/** A missing dead-letter number older than this will not be written any more (see purgeDeadLetters). */
const GAP_SETTLED_MS = 60_000;

const jsonBytes = (text: string): number => Buffer.byteLength(JSON.stringify(text), 'utf8');

/**
 * Cuts a payload until its JSON form fits `maxBytes`, and says so: a dead letter is never lost
 * for its size (JSON escaping can make control characters six times longer, hence the loop).
 */
function fitPayload(payload: string, maxBytes: number): string {
  if (maxBytes <= 0 || jsonBytes(payload) <= maxBytes) return payload;
  let cut = payload;
  for (let i = 0; i < 10 && jsonBytes(cut) > maxBytes; i++) {
    const keep = Math.floor((Buffer.byteLength(cut, 'utf8') * maxBytes * 0.95) / jsonBytes(cut));
    cut = Buffer.from(cut, 'utf8').subarray(0, keep).toString('utf8');
  }
  return `${cut}…[truncated to fit the server's max_payload]`;
}
