import { openBackend, type Backend, type Submitted } from './backend.ts';
import type { Config } from './config/schema.ts';
import type { Clock } from './ports/clock.ts';
import { silentLogger, type Logger } from './ports/logger.ts';
import { systemClock } from './system-clock.ts';
import type { FullTask } from './ports/task-store.ts';
import { isTerminal } from './protocol/task-states.ts';
import type { SubmitRequest } from './protocol/task.ts';
import { TaskNotFoundError } from './errors.ts';
import { newTaskId } from './store/task-id.ts';

/**
 * Follows a task until it ends: its events on `<prefix>.events.task.<id>` wake the wait at once,
 * and the store is re-read on a growing interval (50 ms → 1 s) in case an event was missed
 * (events are at most once) or comes from a process the bus does not reach (embedded mode).
 * In a cluster the record may not exist yet (the intake has not pulled it): that is waiting too.
 */
export async function waitForTask(backend: Pick<Backend, 'store' | 'bus' | 'subjects' | 'mode'>, id: string, options: { signal?: AbortSignal } = {}): Promise<FullTask> {
  let wake: (() => void) | undefined;
  const subscription = backend.bus.subscribe(backend.subjects.taskEvent(id), (message) => {
    const state = (message.data as { state?: unknown } | undefined)?.state;
    if (typeof state === 'string' && isTerminal(state as never)) wake?.();
  });
  try {
    for (let delay = 50; ; delay = Math.min(1000, Math.round(delay * 1.5))) {
      options.signal?.throwIfAborted();
      const task = await backend.store.get(id);
      if (task && isTerminal(task.state)) return task;
      if (!task && backend.mode === 'embedded') throw new TaskNotFoundError(id);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, delay);
        function done() {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', done);
          wake = undefined;
          resolve();
        }
        wake = done;
        options.signal?.addEventListener('abort', done, { once: true });
      });
    }
  } finally {
    subscription.unsubscribe();
  }
}

/** Submits and, with `wait`, follows the task to its end (subscribed before the submit, so no event is missed). */
export async function submitTask(backend: Backend, request: SubmitRequest, options: { wait?: boolean; signal?: AbortSignal; onSubmitted?(submitted: Submitted): void } = {}): Promise<{ submitted: Submitted; task?: FullTask }> {
  if (!options.wait) return { submitted: await backend.submit(request) };
  // The id must be known before publishing so the follower can subscribe first.
  const withId = { ...request, id: request.id ?? newTaskId(Date.now()) };
  const controller = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
  let waiting: Promise<FullTask> | undefined;
  try {
    // Subscribes now; the first store read may find nothing yet (cluster) — that is fine.
    if (backend.mode === 'cluster') {
      waiting = waitForTask(backend, withId.id, { signal });
      waiting.catch(() => undefined); // awaited below; a failure while submitting is reported by the submit
    }
    const submitted = await backend.submit(withId);
    options.onSubmitted?.(submitted);
    waiting ??= waitForTask(backend, submitted.id, { signal });
    return { submitted, task: await waiting };
  } finally {
    controller.abort();
    await waiting?.catch(() => undefined);
  }
}

export interface ReeveClient {
  readonly mode: Backend['mode'];
  /** Tasks, breakers, nodes: the same store `reeve show/tasks/status` read. */
  readonly store: Backend['store'];
  /** Embedded: a store write. Cluster: a JetStream publish on `<prefix>.submit` (deduplicated by id). */
  submit(request: SubmitRequest): Promise<Submitted>;
  /** Submits and resolves with the finished task (any terminal state). */
  run(request: SubmitRequest, options?: { signal?: AbortSignal }): Promise<FullTask>;
  /** Resolves when the task ends. */
  waitFor(id: string, options?: { signal?: AbortSignal }): Promise<FullTask>;
  close(): Promise<void>;
}

/**
 * The TypeScript API for publishers and scripts: the same path as the CLI (`reeve submit`), so a
 * cluster submission goes through the JetStream work queue like any other publisher's.
 */
export async function openReeveClient(config: Config, options: { log?: Logger; clock?: Clock } = {}): Promise<ReeveClient> {
  const log: Logger = options.log ?? silentLogger;
  const backend = await openBackend({ config, log, clock: options.clock ?? systemClock, name: 'reeve-client', role: 'client' });
  return {
    mode: backend.mode,
    store: backend.store,
    submit: (request) => backend.submit(request),
    run: async (request, o = {}) => (await submitTask(backend, request, { wait: true, ...(o.signal ? { signal: o.signal } : {}) })).task!,
    waitFor: (id, o = {}) => waitForTask(backend, id, o),
    close: () => backend.close(),
  };
}
