import type { Failure } from './task-saga-types.ts';
import { evidenceLines, showsTransientCause } from './transient-evidence.ts';

/**
 * Classifies a failed attempt. Sources in order: an explicit class from the agent
 * (TransientError/PermanentError, or a returned classification), exit code 75 (EX_TEMPFAIL),
 * then the evidence (the message, or a command's log tail) against built-in patterns (see
 * transient-evidence.ts for what counts) and per-kind ones. Everything else is permanent. Pure:
 * the caller passes `now` for Retry-After dates.
 */
export interface ClassifyInput {
  explicit?: { class: 'transient' | 'permanent'; code?: string | undefined; retryAfterMs?: number | undefined };
  exitCode?: number;
  /** The error message: what the task record shows. */
  message: string;
  /**
   * The text searched for a transient cause and a Retry-After hint, when it is more than the
   * message (a command's run: the last 16 KiB of its output, while the message keeps a few lines).
   */
  evidence?: string;
  code?: string | undefined;
  /** Per-kind regex sources that mark a failure transient. */
  patterns?: readonly string[];
  now: number;
}

export const EXIT_TEMPFAIL = 75;

const compiled = new Map<string, RegExp>();
function pattern(source: string): RegExp {
  let re = compiled.get(source);
  if (!re) {
    re = new RegExp(source, 'i');
    compiled.set(source, re);
  }
  return re;
}

const RETRY_AFTER = /retry[- _]?after["']?\s*[:=]?\s*(?:(\d+(?:\.\d+)?)\s*(ms|s|sec|seconds)?\b|((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT))/gi;

/**
 * A Retry-After hint in the text: seconds (`retry-after: 30`, `retry after 30s`) or an HTTP date.
 * The last one wins: in a long log the latest answer of the provider is the one that holds.
 * Help listings and usage errors are not read (`--retry-after SECS` is no hint).
 */
export function retryAfterHintMs(text: string, now: number): number | undefined {
  let hint: number | undefined;
  for (const line of evidenceLines(text)) {
    for (const m of line.matchAll(RETRY_AFTER)) {
      if (m[1] !== undefined) {
        const value = Number(m[1]);
        hint = Math.round(m[2]?.toLowerCase() === 'ms' ? value : value * 1000);
        continue;
      }
      const at = Date.parse(m[3]!);
      if (!Number.isNaN(at)) hint = Math.max(0, at - now);
    }
  }
  return hint;
}

export function classifyFailure(input: ClassifyInput): Failure {
  const message = input.message.trim() || (input.exitCode !== undefined ? `exited with code ${input.exitCode}` : 'failed');
  const base = (cls: Failure['class'], extra: { code?: string | undefined; retryAfterMs?: number | undefined } = {}): Failure => {
    const failure: Failure = { class: cls, message };
    const code = extra.code ?? input.code;
    if (code !== undefined) failure.code = code;
    if (extra.retryAfterMs !== undefined) failure.retryAfterMs = extra.retryAfterMs;
    return failure;
  };
  const evidence = input.evidence ?? message;
  if (input.explicit) {
    const hint = input.explicit.retryAfterMs ?? (input.explicit.class === 'transient' ? retryAfterHintMs(evidence, input.now) : undefined);
    return base(input.explicit.class, { code: input.explicit.code, retryAfterMs: hint });
  }
  if (input.exitCode === EXIT_TEMPFAIL) return base('transient', { code: 'EX_TEMPFAIL', retryAfterMs: retryAfterHintMs(evidence, input.now) });
  // A kind's own patterns see the text as it is: whoever wrote them meant them.
  const transient = showsTransientCause(evidence) || (input.patterns ?? []).some((p) => pattern(p).test(evidence));
  if (transient) return base('transient', { retryAfterMs: retryAfterHintMs(evidence, input.now) });
  return base('permanent');
}
