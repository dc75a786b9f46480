import type { Failure, StepRoute } from '../machines/task-saga-types.ts';
import type { Approval, Feedback, Json } from '../protocol/task.ts';
import type { Logger } from './logger.ts';

/** What runs one handler: a JS/TS module on a worker thread, or a command as a child process. */
export type HandlerSpec =
  | { type: 'module'; file: string; exportName: string }
  /** Reeve's own git worktree step: `add` creates the task's worktree, `remove` undoes it. */
  | { type: 'worktree'; op: 'add' | 'remove'; repo: string }
  | { type: 'command'; command: readonly string[]; cwd?: string; env?: Readonly<Record<string, string>>; stdin: 'json' | 'none' };

/** Why a run was stopped from outside. */
export type AbortReason = 'cancel' | 'lease-lost' | 'drain' | 'shutdown';

export interface RunRequest {
  taskId: string;
  kind: string;
  step: string;
  /** 1-based: failed attempts so far + 1. */
  attempt: number;
  phase: 'run' | 'compensate' | 'gate';
  handler: HandlerSpec;
  input: Json | undefined;
  /** Outputs of the steps completed so far, by step name. */
  steps: Readonly<Record<string, Json>>;
  /** A person's approval that let this step run (`ctx.approval`; commands: `REEVE_APPROVAL` JSON). */
  approval?: Approval;
  /** Why this step runs again: a rejection or a failed gate (`ctx.feedback`; commands: `REEVE_FEEDBACK` JSON). */
  feedback?: Feedback;
  /** A directory of this task's own, kept across attempts. */
  workspace: string;
  /** Aborted with an AbortReason as `signal.reason` on cancel, lost lease, drain or shutdown. */
  signal: AbortSignal;
  timeoutMs?: number;
  /** After abort or timeout, how long the handler may take to stop before it is killed. */
  killGraceMs: number;
  /** A run that stops calling `ctx.heartbeat` for this long is hung (treated as a timeout). */
  heartbeatTimeoutMs?: number;
  /** Command runs: hung when the whole tree shows neither output nor CPU-time growth for this long. */
  idleTimeoutMs?: number;
  /** Per-kind patterns (regex sources) that mark an error message as transient. */
  retryOn: readonly string[];
  onHeartbeat(details?: Json): void;
  log: Logger;
}

export type RunOutcome =
  | { ok: true; output: Json | undefined; route?: StepRoute }
  | { ok: false; failure: Failure; aborted?: AbortReason };

export interface Runner {
  run(request: RunRequest): Promise<RunOutcome>;
  close(): Promise<void>;
}
