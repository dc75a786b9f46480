import { Worker, type MessagePort } from 'node:worker_threads';

/**
 * Worker threads that take runs in batches: the runs handed to the pool in one turn of the
 * event loop go to each thread as one message, and each thread sends back what its runs
 * produced in a turn (results, and each run's own messages in order) as one message.
 *
 * Why not piscina, which Reeve used first: piscina posts one message per task and one per
 * result, and builds an AsyncResource per task. On a no-op run that cost ~75-90 µs of the
 * main thread (a bare piscina pool, 4 threads, 50 runs in flight, this 2-core machine), where
 * batches cost ~15-25 µs; with module runs the main thread is what limits a node.
 *
 * What it keeps of piscina's contract: at most `tasksPerThread` runs on a thread, the least
 * busy thread first, up to `maxThreads`, `minThreads` kept, an idle thread above that ended
 * after `idleTimeoutMs`; a thread that errors or exits fails the runs it held (the caller
 * decides what that means) and is replaced when work waits; an error outside any run goes to
 * `onError`. Idle threads do not keep the process alive.
 */
export interface ThreadPoolOptions {
  /** The worker script (a file URL); it calls `serveBatches` on its `parentPort`. */
  filename: URL;
  maxThreads: number;
  minThreads: number;
  tasksPerThread: number;
  idleTimeoutMs: number;
  /** Given to every thread as `workerData`. */
  workerData?: unknown;
  /** A thread's error while it held no run (e.g. thrown by a timer an agent left behind). */
  onError(err: unknown): void;
  /** A thread's message that belongs to no run (`threadNote` of `serveBatches`). */
  onThreadNote?(note: unknown): void;
}

/** What a run in a thread sends back: its result, its failure, or one of its own messages. */
type Out = { id: number; note: unknown } | { id: number; value: unknown } | { id: number; error: string } | { thread: unknown };

/** A run's callbacks: its own messages, in order, before it settles; the thread it was given to. */
export interface RunListener {
  onNote(note: unknown): void;
  onThread?(threadId: number): void;
}

interface Run {
  id: number;
  task: unknown;
  listener: RunListener;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

interface Thread {
  worker: Worker;
  threadId: number;
  runs: Map<number, Run>;
  outbox: Run[];
  idle?: NodeJS.Timeout | undefined;
}

export class ThreadPool {
  readonly #threads = new Set<Thread>();
  #queue: Run[] = [];
  #scheduled = false;
  #lastId = 0;
  #closed = false;

  constructor(private readonly options: ThreadPoolOptions) {
    for (let i = 0; i < options.minThreads; i++) this.#spawn();
  }

  /** Runs `task` on a thread (in the next turn of the event loop, with the others of this turn). */
  run(task: unknown, listener: RunListener): Promise<unknown> {
    if (this.#closed) return Promise.reject(new Error('the thread pool is closed'));
    return new Promise((resolve, reject) => {
      this.#queue.push({ id: ++this.#lastId, task, listener, resolve, reject });
      this.#schedule();
    });
  }

  /**
   * Sends a control message to a thread, after everything already sent to it (so after the
   * batch that brought a run given to it); `serveBatches`'s `onControl` gets it.
   */
  send(threadId: number, control: unknown): void {
    for (const thread of this.#threads) if (thread.threadId === threadId) thread.worker.postMessage({ control });
  }

  /** The live threads' ids. */
  get threadIds(): number[] {
    return [...this.#threads].map((t) => t.threadId);
  }

  /** Ends a thread; its runs fail, and a replacement starts if work waits. */
  terminate(threadId: number): void {
    for (const thread of this.#threads) {
      if (thread.threadId !== threadId) continue;
      this.#fail(thread, new Error('worker thread terminated'));
      void thread.worker.terminate();
    }
  }

  async destroy(): Promise<void> {
    this.#closed = true;
    const queued = this.#queue;
    this.#queue = [];
    for (const run of queued) run.reject(new Error('the thread pool is closed'));
    await Promise.all([...this.#threads].map((t) => t.worker.terminate()));
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(() => this.#dispatch());
  }

  /** Hands the queued runs to the least busy threads, one message per thread. */
  #dispatch(): void {
    this.#scheduled = false;
    if (this.#closed) return;
    const { tasksPerThread, maxThreads } = this.options;
    let next = 0;
    while (next < this.#queue.length) {
      let best: Thread | undefined;
      for (const t of this.#threads) if (t.runs.size < tasksPerThread && (!best || t.runs.size < best.runs.size)) best = t;
      if (!best && this.#threads.size < maxThreads) best = this.#spawn();
      if (!best) break;
      const run = this.#queue[next++]!;
      best.runs.set(run.id, run);
      best.outbox.push(run);
    }
    this.#queue = next === this.#queue.length ? [] : this.#queue.slice(next);
    for (const thread of this.#threads) {
      if (thread.outbox.length === 0) continue;
      const given = thread.outbox;
      thread.outbox = [];
      clearTimeout(thread.idle);
      thread.worker.ref();
      thread.worker.postMessage(given.map((r) => ({ id: r.id, task: r.task })));
      // Told once the batch is posted, so whatever the caller sends the thread comes after it.
      for (const run of given) run.listener.onThread?.(thread.threadId);
    }
  }

  #spawn(): Thread {
    const worker = new Worker(this.options.filename, { workerData: this.options.workerData });
    const thread: Thread = { worker, threadId: worker.threadId, runs: new Map(), outbox: [] };
    this.#threads.add(thread);
    worker.unref();
    worker.on('message', (outs: Out[]) => this.#receive(thread, outs));
    // An uncaught error ends the thread: it takes no more runs from here on, its exit follows.
    worker.on('error', (err) => {
      if (thread.runs.size === 0) this.options.onError(err);
      this.#fail(thread, err);
    });
    worker.once('exit', (code) => this.#fail(thread, new Error(`worker thread exited with code ${code}`)));
    return thread;
  }

  /** The thread is gone or going: its runs fail, and a replacement starts if needed. */
  #fail(thread: Thread, err: unknown): void {
    if (this.#threads.delete(thread)) {
      clearTimeout(thread.idle);
      if (!this.#closed && this.#queue.length > 0) this.#schedule();
      else if (!this.#closed && this.#threads.size < this.options.minThreads) this.#spawn();
    }
    const runs = [...thread.runs.values()];
    thread.runs.clear();
    thread.outbox = [];
    const error = err instanceof Error ? err : new Error(String(err));
    for (const run of runs) run.reject(error);
  }

  #receive(thread: Thread, outs: Out[]): void {
    for (const out of outs) {
      if ('thread' in out) {
        this.options.onThreadNote?.(out.thread);
        continue;
      }
      const run = thread.runs.get(out.id);
      if (!run) continue;
      if ('note' in out) run.listener.onNote(out.note);
      else {
        thread.runs.delete(out.id);
        if ('error' in out) run.reject(new Error(out.error));
        else run.resolve(out.value);
      }
    }
    if (this.#queue.length > 0) this.#schedule();
    if (thread.runs.size > 0 || thread.outbox.length > 0) return;
    thread.worker.unref();
    if (this.#threads.size > this.options.minThreads) {
      clearTimeout(thread.idle);
      thread.idle = setTimeout(() => {
        if (thread.runs.size === 0 && this.#threads.size > this.options.minThreads) void thread.worker.terminate();
      }, this.options.idleTimeoutMs);
      thread.idle.unref();
    }
  }
}

/**
 * The thread's side: runs each task of a batch with `handler(task, note)` at once, and sends
 * back what they produce in one message per turn of the thread's event loop. Returns the way
 * to send a message of the thread's own (the pool's `onThreadNote`).
 */
export function serveBatches(
  port: MessagePort,
  handler: (task: unknown, note: (message: unknown) => void) => Promise<unknown>,
  onControl: (control: unknown) => void = () => undefined,
): (message: unknown) => void {
  let out: Out[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const batch = out;
    out = [];
    port.postMessage(batch);
  };
  const send = (item: Out) => {
    out.push(item);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  port.on('message', (batch: Array<{ id: number; task: unknown }> | { control: unknown }) => {
    if (!Array.isArray(batch)) return onControl(batch.control);
    for (const { id, task } of batch) {
      handler(task, (note) => send({ id, note })).then(
        (value) => send({ id, value }),
        (err: unknown) => send({ id, error: err instanceof Error ? err.message : String(err) }),
      );
    }
  });
  return (message) => send({ thread: message });
}
