import type { Backend } from '../node/backend.ts';
import { silentLogger } from '../ports/logger.ts';
import type { TaskState } from '../protocol/task-states.ts';
import { waitForTask } from '../client/task-follow.ts';
import { ago, describeTask, Exit, publicRecord, table, type Io } from './output.ts';

/** Embedded mode: how often the feed re-reads the newest tasks (the node is another process). */
const FOLLOW_STORE_MS = 300;
/** Redraws at most this often on a TTY, however fast events come. */
const REDRAW_MS = 100;
const CLEAR = '\u001b[H\u001b[2J';

/** Resolves on the first SIGINT or SIGTERM (the watch is then over: exit 0). */
function untilInterrupted(): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return { signal: controller.signal, dispose: () => (process.off('SIGINT', stop), process.off('SIGTERM', stop)) };
}

/**
 * `reeve tasks --watch`: the event stream the HTTP API serves (EventFeed: bus events, and in
 * embedded mode the store followed), as a table redrawn on each change on a TTY, or one line per
 * change otherwise (`--json`: one event JSON per line).
 */
export async function watchTasks(backend: Backend, io: Io, query: { state?: TaskState; kind?: string; limit: number }, json: boolean): Promise<number> {
  const { EventFeed } = await import('../http/event-feed.ts');
  const feed = new EventFeed({ bus: backend.bus, subjects: backend.subjects, store: backend.store, ...(backend.mode === 'embedded' ? { followStoreMs: FOLLOW_STORE_MS } : {}), log: silentLogger });
  const interrupted = untilInterrupted();
  let timer: NodeJS.Timeout | undefined;
  const redraw = async () => {
    timer = undefined;
    const list = await backend.store.query(query);
    const now = Date.now();
    const rows = list.map((t) => [t.id, t.kind, t.state, t.step ?? '-', `${t.attempts.transient}/${t.attempts.permanent}/${t.attempts.crashes}`, ago(t.updatedAt, now)]);
    io.out(`${CLEAR}${table([['ID', 'KIND', 'STATE', 'STEP', 'ATTEMPTS t/p/c', 'UPDATED'], ...rows], true)}\n\nwatching (${backend.mode}); Ctrl-C to stop`);
  };
  const unsubscribe = feed.subscribe((event) => {
    if (event.type !== 'task') return;
    const e = event.data as { id: string; kind: string; state: string; from: string | null; at: number };
    if ((query.kind && e.kind !== query.kind) || (query.state && e.state !== query.state && e.from !== query.state)) return;
    if (json) io.out(event.json);
    else if (!io.isTTY) io.out(`${new Date(e.at).toISOString()}  ${e.id}  ${e.kind}  ${e.from ?? '-'} -> ${e.state}`);
    else timer ??= setTimeout(() => void redraw().catch(() => undefined), REDRAW_MS);
  });
  // The feed's timers do not keep a process alive (they must not hold a node open); this one does.
  const keepAlive = setInterval(() => undefined, 60_000);
  try {
    if (io.isTTY && !json) await redraw();
    await new Promise<void>((resolve) => interrupted.signal.addEventListener('abort', () => resolve(), { once: true }));
    return Exit.Ok;
  } finally {
    unsubscribe();
    clearInterval(keepAlive);
    clearTimeout(timer);
    feed.close();
    interrupted.dispose();
  }
}

/** `reeve show ID --follow`: each state change until the task ends (a TTY redraws the whole task). */
export async function followTask(backend: Backend, io: Io, id: string, json: boolean): Promise<number> {
  const interrupted = untilInterrupted();
  try {
    const task = await waitForTask(backend, id, {
      signal: interrupted.signal,
      onChange: (change) => {
        if (json) io.out(JSON.stringify(change));
        else if (!io.isTTY) io.out(`${new Date(change.at).toISOString()}  ${id}  ${change.from ?? '-'} -> ${change.to}  ${change.reason}`);
        else
          void backend.store
            .get(id)
            .then((t) => {
              if (t) io.out(`${CLEAR}${describeTask(publicRecord(t), Date.now())}`);
            })
            .catch(() => undefined); // a redraw missed: the next change, or the end, redraws it
      },
    }).catch((err: unknown) => {
      if (interrupted.signal.aborted) return undefined;
      throw err;
    });
    if (task && io.isTTY && !json) io.out(`${CLEAR}${describeTask(publicRecord(task), Date.now())}`);
    return Exit.Ok;
  } finally {
    interrupted.dispose();
  }
}
