/**
 * Ending the `reeve` process without losing output. `process.exit` does not wait for stdout:
 * when stdout is a pipe whose reader is slower than us (`reeve tasks --json | jq .`), Node
 * holds what the pipe could not take yet in memory, and exiting drops it (the reader got
 * exactly 64 KiB, one pipe buffer). So the exit waits until every stream has handed all its
 * writes to the OS, then exits (which also ends whatever handle might keep the process alive).
 */

type Flushable = Pick<NodeJS.WriteStream, 'write' | 'destroyed' | 'on' | 'once' | 'off'>;

const guarded = new WeakSet<object>();
let failed: (Error & { code?: string }) | undefined;

/**
 * Write errors on the process's output become an exit code instead of an uncaught 'error'
 * event (a crash with a stack trace). A reader that went away (`reeve tasks --json | head -c 10`:
 * EPIPE) is normal for a command-line tool and changes nothing; any other failure (a full
 * disk under `> file`) makes a successful command exit 5, since its output is incomplete.
 */
export function guardOutput(streams: readonly Flushable[] = [process.stdout, process.stderr]): void {
  for (const stream of streams) {
    if (guarded.has(stream)) continue;
    guarded.add(stream);
    stream.on('error', (err: Error & { code?: string }) => {
      if (err.code !== 'EPIPE') failed ??= err;
    });
  }
}

/** Resolves once everything written to `stream` so far has been flushed, or the stream failed. */
export function flushed(stream: Flushable): Promise<void> {
  if (stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      stream.off('error', done);
      resolve();
    };
    stream.once('error', done);
    // Writes complete in order, so an empty write's callback runs after every earlier one.
    stream.write('', () => done());
  });
}

/** Sets the exit code, waits until stdout and stderr are flushed, then exits. */
export async function exitWhenFlushed(code: number, streams: readonly Flushable[] = [process.stdout, process.stderr]): Promise<never> {
  guardOutput(streams);
  process.exitCode = code;
  await Promise.all(streams.map(flushed));
  const exit = code === 0 && failed ? 5 : code;
  if (exit !== code) process.stderr.write(`reeve: output was not written completely: ${failed!.message}\n`);
  process.exit(exit);
}
