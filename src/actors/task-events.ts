import type { Clock } from '../ports/clock.ts';
import type { StoredTask, TaskStore, TaskWrite, TransitionRequest } from '../ports/task-store.ts';
import type { z } from 'zod';
import type { taskEventSchema } from '../protocol/messages.ts';

export type TaskEvent = z.infer<typeof taskEventSchema>;

/**
 * Publishes `<prefix>.events.task.<id>` for every state change a store write makes, whoever makes
 * it (a node's saga, its dispatcher or sweeper, the intake, an operator's CLI): it wraps the
 * TaskStore port, so no write path can forget. Events are best effort (core NATS, at most once):
 * the store stays the truth, and a follower that may have missed one re-reads the record.
 *
 * Only writes that change the state publish; heartbeats and progress writes do not. Each write
 * reports the state it came from (`from` on TaskWrite / StoredTask), so nothing is read for it.
 */
export function withTaskEvents<S extends TaskStore>(store: S, publish: (event: TaskEvent) => void, clock: Clock): S {
  const fromRecord = (task: StoredTask): void => {
    if (task.from === undefined || task.from === task.state) return;
    publish({
      id: task.id,
      kind: task.kind,
      state: task.state,
      from: task.from,
      at: task.updatedAt ?? clock.now(),
      attempts: task.attempts,
      ...(task.error ? { error: task.error } : {}),
      ...(task.result !== undefined && task.state === 'succeeded' ? { result: task.result } : {}),
    });
  };
  const fromWrite = (write: TaskWrite, request: TransitionRequest): void => {
    if (write.from === write.state) return;
    publish({
      id: write.id,
      kind: write.kind,
      state: write.state,
      from: write.from,
      at: write.updatedAt,
      attempts: write.attempts,
      ...(request.error ? { error: request.error } : {}),
      ...(request.result !== undefined && write.state === 'succeeded' ? { result: request.result } : {}),
    });
  };
  const overrides: Partial<TaskStore> = {
    submit: async (request) => {
      const result = await store.submit(request);
      if (result.created) fromRecord({ ...result.task, from: result.task.from ?? null });
      return result;
    },
    claim: async (request) => {
      const claimed = await store.claim(request);
      for (const task of claimed) fromRecord(task);
      return claimed;
    },
    transition: async (request) => {
      const write = await store.transition(request);
      fromWrite(write, request);
      return write;
    },
    transitionMany: async (requests) => {
      const writes = await store.transitionMany(requests);
      writes.forEach((write, i) => {
        if (!(write instanceof Error)) fromWrite(write, requests[i]!);
      });
      return writes;
    },
    requeueStale: async (id, revision, options) => {
      const task = await store.requeueStale(id, revision, options);
      fromRecord(task);
      return task;
    },
    requestCancel: async (id, reason) => {
      const task = await store.requestCancel(id, reason);
      fromRecord(task);
      return task;
    },
    reopen: async (id, reason) => {
      const task = await store.reopen(id, reason);
      fromRecord(task);
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
