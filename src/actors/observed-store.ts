import type { Clock } from '../ports/clock.ts';
import type { MetricsPort } from '../ports/metrics.ts';
import type { ReeveStore } from '../ports/reeve-store.ts';
import type { StoredTask, TaskStore, TaskWrite, TransitionRequest } from '../ports/task-store.ts';
import type { TaskState } from '../protocol/task-states.ts';

/** Runs whose start this node remembers, at most; beyond it the oldest are forgotten (a lost task never ends here). */
const MAX_TRACKED_RUNS = 100_000;

/**
 * The node's store, reporting each state change this node writes to the metrics: every write
 * path (saga, dispatcher, sweeper, operator) goes through the store, so none can be missed and
 * nothing is scanned. Run durations are measured from the claim (or the write into `running`)
 * to the write that leaves `running`, both made by this node.
 */
export function withMetrics<S extends ReeveStore>(store: S, metrics: MetricsPort, clock: Clock): S {
  const runningSince = new Map<string, number>();
  const changed = (id: string, kind: string, from: TaskState | null | undefined, to: TaskState, at: number, failure?: string) => {
    if (from === to || from === undefined) return;
    metrics.taskTransition(kind, from, to);
    if (from === 'running') {
      const since = runningSince.get(id);
      runningSince.delete(id);
      if (since !== undefined) metrics.runFinished(kind, Math.max(0, at - since) / 1000);
      if (failure !== undefined && failure !== 'cancelled') metrics.attemptFailed(kind, failure);
    }
    if (to === 'running') {
      if (runningSince.size >= MAX_TRACKED_RUNS) runningSince.delete(runningSince.keys().next().value!);
      runningSince.set(id, at);
    }
  };
  const fromWrite = (w: TaskWrite, r: TransitionRequest) => changed(w.id, w.kind, w.from, w.state, w.updatedAt, r.error?.class);
  const overrides: Partial<TaskStore> = {
    submit: async (request) => {
      const result = await store.submit(request);
      if (result.created) changed(result.task.id, result.task.kind, null, result.task.state, result.task.updatedAt);
      return result;
    },
    claim: async (request, options) => {
      const claimed = await store.claim(request, options);
      const now = clock.now();
      for (const task of claimed) {
        if (task.from === 'queued' || task.from === 'backoff') metrics.queueWait(task.kind, Math.max(0, now - readySince(task)) / 1000);
        changed(task.id, task.kind, task.from, task.state, now);
      }
      return claimed;
    },
    transition: async (request) => {
      const write = await store.transition(request);
      fromWrite(write, request);
      return write;
    },
    transitionMany: async (requests, options) => {
      const writes = await store.transitionMany(requests, options);
      writes.forEach((write, i) => {
        if (!(write instanceof Error)) fromWrite(write, requests[i]!);
      });
      return writes;
    },
    requeueStale: async (id, revision, options) => {
      const task = await store.requeueStale(id, revision, options);
      metrics.leaseLost();
      changed(task.id, task.kind, task.from, task.state, clock.now(), 'lost-lease');
      return task;
    },
    requestCancel: async (id, reason) => {
      const task = await store.requestCancel(id, reason);
      changed(task.id, task.kind, task.from, task.state, clock.now());
      return task;
    },
    reopen: async (id, reason) => {
      const task = await store.reopen(id, reason);
      changed(task.id, task.kind, task.from, task.state, clock.now());
      return task;
    },
  };
  return new Proxy(store, {
    get(target, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof TaskStore];
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

/** When the task became claimable: its backoff's end, or its submission. */
function readySince(task: StoredTask): number {
  return Math.max(task.availableAt ?? task.createdAt, task.createdAt);
}
