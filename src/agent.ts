/**
 * What agent authors import: the errors that classify a failure, and the `ctx` type.
 * Classification is duck-typed on `reeveClass` so that an agent bundling its own copy of
 * these classes (or defining look-alikes in any language's wrapper) is still understood.
 */
import type { Approval, Feedback, Json } from './protocol/task.ts';

export type { Approval, Feedback } from './protocol/task.ts';

export interface ClassifiedErrorOptions extends ErrorOptions {
  /** Do not retry sooner than this (a provider's Retry-After). */
  retryAfterMs?: number;
  code?: string;
}

/** Retry later: rate limits, outages, timeouts of a dependency. Counts against `retry.transient`. */
export class TransientError extends Error {
  override name = 'TransientError';
  readonly reeveClass = 'transient' as const;
  readonly retryAfterMs: number | undefined;
  readonly code: string | undefined;
  constructor(message: string, options: ClassifiedErrorOptions = {}) {
    super(message, options);
    this.retryAfterMs = options.retryAfterMs;
    this.code = options.code;
  }
}

/** Retrying as is will not help. Counts against `retry.permanent`. */
export class PermanentError extends Error {
  override name = 'PermanentError';
  readonly reeveClass = 'permanent' as const;
  readonly code: string | undefined;
  constructor(message: string, options: ClassifiedErrorOptions = {}) {
    super(message, options);
    this.code = options.code;
  }
}

export interface AgentLog {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

/** The second argument of a module agent: `export default async function (input, ctx) {}`. */
export interface AgentContext {
  taskId: string;
  kind: string;
  step: string;
  /** 1-based attempt number of this step. */
  attempt: number;
  /** Fired on cancel, timeout, lost lease or node shutdown: stop promptly and clean up. */
  signal: AbortSignal;
  /** Reports progress and proves liveness (see `heartbeatTimeoutMs`). */
  heartbeat(details?: Json): void;
  log: AgentLog;
  /** A directory of this task's own, kept across attempts and steps. */
  workspace: string;
  /** Outputs of the steps completed so far. */
  steps: Readonly<Record<string, Json>>;
  /**
   * Set in the step that runs after a person approved (`reeve approve ID --input … --reason …`):
   * `{ input?, reason?, by?, at }`. Absent otherwise.
   */
  approval?: Approval;
  /**
   * Set when this step runs again because a person rejected a later step with `--goto` or a
   * gate failed with a `goto`: `{ reason, from }` (`from`: the step rejected or gated). Absent otherwise.
   */
  feedback?: Feedback;
  /**
   * Route the pipeline back (or forward) to another step instead of the next one. In a gate it
   * is the same as returning `{ pass: false, goto: step }`.
   */
  goto(step: string): void;
  /** Pause the task after this step until a person runs `reeve approve`. */
  waitForApproval(): void;
}

export type ModuleAgent = (input: Json | undefined, ctx: AgentContext) => unknown;
