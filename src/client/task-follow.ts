import type { Backend, Submitted } from '../node/backend.ts';
import { TaskNotFoundError } from '../errors.ts';
import type { FullTask } from '../ports/task-store.ts';
import { isTerminal } from '../protocol/task-states.ts';
import type { HistoryEntry, SubmitRequest } from '../protocol/task.ts';
import { newTaskId } from '../store/task-id.ts';
import { backoffDelay } from '../machines/backoff.ts';

/** One state change of a task: an entry of its history. */
export interface TaskChange extends HistoryEntry {
  id: string;
}

export interface FollowOptions {
  signal?: AbortSignal;
  /** Called with every state change, oldest first (those before the call too), until the task ends. */
  onChange?(change: TaskChange): void;
  /** Called with the record after each read (after its changes went to `onChange`): progress, step. */
  onRecord?(task: FullTask): void;
}

/**
 * Follows a task until it ends: its events on `<prefix>.events.task.<id>` wake the wait at once,
 * and the store is re-read on a growing interval (50 ms → 1 s) in case an event was missed
 * (events are at most once) or comes from a process the bus does not reach (embedded mode).
 * In a cluster the record may not exist yet (the intake has not pulled it): that is waiting too.
 */
export async function waitForTask(backend: Pick<Backend, 'store' | 'bus' | 'subjects' | 'mode'>, id: string, options: FollowOptions = {}): Promise<FullTask> {
  let wake: (() => void) | undefined;
  let seen = 0;
  const subscription = backend.bus.subscribe(backend.subjects.taskEvent(id), (message) => {
    const state = (message.data as { state?: unknown } | undefined)?.state;
    if (typeof state === 'string' && (options.onChange || options.onRecord || isTerminal(state as never))) wake?.();
  });
  try {
    for (let polls = 0; ; polls++) {
      const delay = backoffDelay(polls, { firstMs: 50, maxMs: 1_000, factor: 1.5 });
      options.signal?.throwIfAborted();
      const task = await backend.store.get(id);
      // Changes come from the record's history, not from the events: complete and in order.
      if (task && options.onChange) for (; seen < task.history.length; seen++) options.onChange({ id, ...task.history[seen]! });
      if (task) options.onRecord?.(task);
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
        // Aborted during the store read: the event has fired already, do not sleep.
        if (options.signal?.aborted) done();
      });
    }
  } finally {
    subscription.unsubscribe();
  }
}

/** Submits and, with `wait`, follows the task to its end (subscribed before the submit, so no event is missed). */
export async function submitTask(
  backend: Backend,
  request: SubmitRequest,
  options: { wait?: boolean; signal?: AbortSignal; onSubmitted?(submitted: Submitted): void; follow?: Pick<FollowOptions, 'onChange' | 'onRecord'> } = {},
): Promise<{ submitted: Submitted; task?: FullTask }> {
  if (!options.wait) return { submitted: await backend.submit(request) };
  // The id must be known before publishing so the follower can subscribe first.
  const withId = { ...request, id: request.id ?? newTaskId(Date.now()) };
  const controller = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, controller.signal]) : controller.signal;
  let waiting: Promise<FullTask> | undefined;
  try {
    // Subscribes now; the first store read may find nothing yet (cluster) — that is fine.
    if (backend.mode === 'cluster') {
      waiting = waitForTask(backend, withId.id, { ...options.follow, signal });
      waiting.catch(() => undefined); // awaited below; a failure while submitting is reported by the submit
    }
    const submitted = await backend.submit(withId);
    options.onSubmitted?.(submitted);
    waiting ??= waitForTask(backend, submitted.id, { ...options.follow, signal });
    return { submitted, task: await waiting };
  } finally {
    controller.abort();
    await waiting?.catch(() => undefined);
  }
}
