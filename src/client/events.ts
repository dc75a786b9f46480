import type { TaskChange } from './task-follow.ts';

/**
 * Turns a callback follower into an async iterator: changes queue until the loop asks for them;
 * the iterator ends when the follower resolves (the task ended) and throws what it throws.
 * Leaving the loop early (`break`) aborts the follower.
 */
export function changeStream(
  follow: (onChange: (change: TaskChange) => void, signal: AbortSignal) => Promise<unknown>,
  outer?: AbortSignal,
): AsyncIterable<TaskChange> {
  return {
    [Symbol.asyncIterator](): AsyncIterator<TaskChange> {
      const controller = new AbortController();
      const signal = outer ? AbortSignal.any([outer, controller.signal]) : controller.signal;
      const queue: TaskChange[] = [];
      // Every pending next() waits here (a caller may ask again before the last answer came).
      const waiters: Array<() => void> = [];
      let finished = false;
      let failure: { error: unknown } | undefined;
      const notify = () => {
        for (const wake of waiters.splice(0)) wake();
      };
      follow((change) => {
        queue.push(change);
        notify();
      }, signal).then(
        () => {
          finished = true;
          notify();
        },
        (error: unknown) => {
          failure = { error };
          finished = true;
          notify();
        },
      );
      return {
        async next(): Promise<IteratorResult<TaskChange>> {
          while (queue.length === 0 && !finished) await new Promise<void>((resolve) => waiters.push(resolve));
          if (queue.length > 0) return { value: queue.shift()!, done: false };
          if (failure && !controller.signal.aborted) throw failure.error;
          return { value: undefined, done: true };
        },
        async return(): Promise<IteratorResult<TaskChange>> {
          controller.abort();
          return { value: undefined, done: true };
        },
      };
    },
  };
}
