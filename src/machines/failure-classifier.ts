import type { Failure } from './task-saga-types.ts';

/**
 * Classifies a failed attempt. Sources in order: an explicit class from the agent
 * (TransientError/PermanentError, or a returned classification), exit code 75 (EX_TEMPFAIL),
 * then the message or log tail against built-in and per-kind patterns. Everything else is
 * permanent. Pure: the caller passes `now` for Retry-After dates.
 */
export interface ClassifyInput {
  explicit?: { class: 'transient' | 'permanent'; code?: string | undefined; retryAfterMs?: number | undefined };
  exitCode?: number;
  /** The error message or the run's log tail. */
  message: string;
  code?: string | undefined;
  /** Per-kind regex sources that mark a failure transient. */
  patterns?: readonly string[];
  now: number;
}

export const EXIT_TEMPFAIL = 75;

const BUILT_IN_TRANSIENT: readonly RegExp[] = [
  /\b429\b/,
  /rate[ _-]?limit/i,
  /too many requests/i,
  /overloaded/i,
  /\b503\b/,
  /\b529\b/,
  /service unavailable/i,
  /ECONNRESET/,
  /ETIMEDOUT/,
  /ECONNREFUSED/,
  /EAI_AGAIN/,
  /quota/i,
  /try again/i,
];

const compiled = new Map<string, RegExp>();
function pattern(source: string): RegExp {
  let re = compiled.get(source);
  if (!re) {
    re = new RegExp(source, 'i');
    compiled.set(source, re);
  }
  return re;
}

/** A Retry-After hint in the text: seconds (`retry-after: 30`, `retry after 30s`) or an HTTP date. */
export function retryAfterHintMs(text: string, now: number): number | undefined {
  const seconds = /retry[- _]?after["']?\s*[:=]?\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|seconds)?\b/i.exec(text);
  if (seconds) {
    const value = Number(seconds[1]);
    return Math.round(seconds[2]?.toLowerCase() === 'ms' ? value : value * 1000);
  }
  const date = /retry[- _]?after["']?\s*[:=]?\s*((?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT)/i.exec(text);
  if (date) {
    const at = Date.parse(date[1]!);
    if (!Number.isNaN(at)) return Math.max(0, at - now);
  }
  return undefined;
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
  if (input.explicit) {
    const hint = input.explicit.retryAfterMs ?? (input.explicit.class === 'transient' ? retryAfterHintMs(message, input.now) : undefined);
    return base(input.explicit.class, { code: input.explicit.code, retryAfterMs: hint });
  }
  if (input.exitCode === EXIT_TEMPFAIL) return base('transient', { code: 'EX_TEMPFAIL', retryAfterMs: retryAfterHintMs(message, input.now) });
  const transient = BUILT_IN_TRANSIENT.some((re) => re.test(message)) || (input.patterns ?? []).some((p) => pattern(p).test(message));
  if (transient) return base('transient', { retryAfterMs: retryAfterHintMs(message, input.now) });
  return base('permanent');
}
