/**
 * A repeated stop signal this soon after the first is the same Ctrl-C arriving twice, not an
 * operator insisting: under `npm start` the node gets SIGINT from the terminal (it is in the
 * foreground process group) and again from npm 11, which forwards it to its child.
 */
export const REPEAT_WINDOW_MS = 500;

export interface StopSignalHandlers {
  /** The first SIGTERM/SIGINT: drain in-flight work. */
  drain(signal: NodeJS.Signals): void;
  /** A later one, at least REPEAT_WINDOW_MS after the first: stop at once. */
  stopNow(signal: NodeJS.Signals): void;
  /** SIGHUP. */
  reload(): void;
}

type SignalTarget = Pick<NodeJS.Process, 'on' | 'off'>;

/**
 * Wires `reeve start`'s signals: SIGTERM/SIGINT drain, a second one (after the repeat window)
 * stops at once, SIGHUP reloads. Returns the function that unwires them.
 */
export function handleStopSignals(handlers: StopSignalHandlers, now: () => number = Date.now, target: SignalTarget = process): () => void {
  let firstAt: number | undefined;
  const onStop = (signal: NodeJS.Signals) => {
    const at = now();
    if (firstAt === undefined) {
      firstAt = at;
      handlers.drain(signal);
    } else if (at - firstAt >= REPEAT_WINDOW_MS) handlers.stopNow(signal);
  };
  const onReload = () => handlers.reload();
  target.on('SIGTERM', onStop);
  target.on('SIGINT', onStop);
  target.on('SIGHUP', onReload);
  return () => {
    target.off('SIGTERM', onStop);
    target.off('SIGINT', onStop);
    target.off('SIGHUP', onReload);
  };
}
