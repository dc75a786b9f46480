import type { TaskState } from '../protocol/task-states.ts';

/**
 * What the node reports to its metrics (Prometheus in src/http/metrics.ts), at the places where
 * it already sees each event: its own store writes, its reaper. Everything a scrape can read
 * cheaply (slots, breakers, restarts, counts) is read at scrape time instead.
 */
export interface MetricsPort {
  /** A state change written by this node (`from` null: a submission). */
  taskTransition(kind: string, from: TaskState | null, to: TaskState): void;
  /** A failed attempt, by its class (transient, permanent, timeout, lost-lease, …). */
  attemptFailed(kind: string, failureClass: string): void;
  /** A run ended (left `running`) after this many seconds. */
  runFinished(kind: string, seconds: number): void;
  /** A task was claimed this many seconds after it became claimable. */
  queueWait(kind: string, seconds: number): void;
  /** A task whose lease had expired was taken back (its owner crashed or hung). */
  leaseLost(): void;
  /** Process trees killed by the reaper. */
  processesReaped(count: number): void;
  /** A notification delivery round this node ran: delivered, retried later, or given up. */
  notification(event: string, outcome: 'delivered' | 'retried' | 'failed'): void;
}

/** Metrics off (no HTTP server): every report is dropped. */
export const noMetrics: MetricsPort = {
  taskTransition: () => undefined,
  attemptFailed: () => undefined,
  runFinished: () => undefined,
  queueWait: () => undefined,
  leaseLost: () => undefined,
  processesReaped: () => undefined,
  notification: () => undefined,
};
