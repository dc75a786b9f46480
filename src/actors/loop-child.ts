import type { RestartType } from '../machines/supervisor-policy.ts';
import type { Timers } from '../ports/timers.ts';
import type { ChildHandle, ChildSpec } from './supervisor.ts';

export interface LoopChildOptions {
  id: string;
  /** Default 'permanent': a loop (dispatch, renewal, reaping, heartbeat) should always be running. */
  restart?: RestartType;
  /** Pause between the end of one tick and the start of the next. */
  intervalMs: number;
  /** One round of work. Aborted `signal`: the loop is stopping; finish or give up quickly. */
  tick: (signal: AbortSignal) => Promise<void> | void;
  timers: Timers;
}

/**
 * A supervised loop. A tick that throws ends the loop with `done` rejected, so the supervisor
 * logs, counts and restarts it: a loop never dies silently, and never swallows its own error.
 */
export function loopChild(options: LoopChildOptions): ChildSpec {
  const { id, restart = 'permanent' } = options;
  return { id, restart, start: () => startLoop(options) };
}

function startLoop({ intervalMs, tick, timers }: LoopChildOptions): ChildHandle {
  const controller = new AbortController();
  const { signal } = controller;
  let timer: unknown;
  let wake: (() => void) | undefined;
  const pause = () =>
    new Promise<void>((resolve) => {
      wake = resolve;
      timer = timers.setTimeout(resolve, intervalMs);
    });

  const run = async () => {
    while (!signal.aborted) {
      try {
        await tick(signal);
      } catch (err) {
        // A tick that fails because we aborted it is the stop we asked for, not a crash.
        if (signal.aborted) return;
        throw err;
      }
      if (signal.aborted) return;
      await pause();
    }
  };
  const done = run();

  return {
    done,
    async stop() {
      controller.abort();
      timers.clearTimeout(timer);
      wake?.();
      // Waits for the tick in flight; how it ended no longer matters once we asked it to stop.
      await done.catch(() => undefined);
    },
  };
}
