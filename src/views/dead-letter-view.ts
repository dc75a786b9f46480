import { ErrorCode, ReeveError } from '../errors.ts';
import type { DeadLetter, TaskStore } from '../ports/task-store.ts';

/** A dead letter as `GET /api/v1/dead-letters` and `reeve dead-letters --json` list it. */
export interface DeadLetterSummary {
  n: number;
  receivedAt: number;
  source: string;
  code: string;
  reason: string;
  id?: string;
  excerpt: string;
}

export function deadLetterSummary(letter: DeadLetter): DeadLetterSummary {
  return { n: letter.seq, receivedAt: letter.receivedAt, source: letter.source, code: letter.code, reason: letter.reason, ...(letter.id === undefined ? {} : { id: letter.id }), excerpt: letter.excerpt };
}

/** How far back `show N` looks: the store lists newest first and has no get by number. */
export const DEAD_LETTER_LOOKBACK = 1000;

/** One dead letter with its whole body (`GET /api/v1/dead-letters/{n}`, `reeve dead-letters show N`). */
export async function deadLetter(store: Pick<TaskStore, 'listDeadLetters'>, n: number): Promise<DeadLetterSummary & { body: string }> {
  const letter = (await store.listDeadLetters(DEAD_LETTER_LOOKBACK)).find((l) => l.seq === n);
  if (!letter) throw new ReeveError(ErrorCode.NotFound, `dead letter ${n} not found among the newest ${DEAD_LETTER_LOOKBACK}; list them with \`reeve dead-letters\``);
  return { ...deadLetterSummary(letter), body: letter.payload };
}
