import type { BreakerSettings } from '../machines/circuit-breaker.ts';
import type { SagaPolicy } from '../machines/task-saga-types.ts';
import type { HandlerSpec } from '../ports/runner.ts';

/** What the runtime needs to run one kind, built from the config as it is now. */
export interface KindPlan {
  kind: string;
  policy: SagaPolicy;
  steps: ReadonlyArray<{ name: string; run: HandlerSpec; compensate?: HandlerSpec; gate?: HandlerSpec }>;
  timeoutMs?: number;
  killGraceMs: number;
  heartbeatTimeoutMs?: number;
  idleTimeoutMs?: number;
  retryOn: readonly string[];
  /** Per-kind slot limit on this node. */
  concurrency?: number;
  breaker: BreakerSettings;
  /** The breaker key of the kind's tasks unless a task names its own (default: the kind). */
  breakerKey: string;
  /** The git repository whose worktree is each task's workspace. */
  repo?: string;
  /** Keep the task's workspace after it ends. */
  keepWorkspace: boolean;
  /** Checked before any task of the kind is claimed, cached for `ttlMs`. */
  preflight?: { handler: HandlerSpec; timeoutMs: number; ttlMs: number };
}
