import type { Bus, Subscription } from '../ports/bus.ts';
import type { Logger } from '../ports/logger.ts';
import type { TaskStore } from '../ports/task-store.ts';
import type { BusMessage } from '../ports/bus.ts';
import { breakerEventSchema, nodeHeartbeatSchema } from '../protocol/messages.ts';
import { TASK_STATES } from '../protocol/task-states.ts';
import { TASK_ID_PATTERN, type TaskRecord } from '../protocol/task.ts';
import type { Subjects } from '../protocol/subjects.ts';
import { toError } from '../errors.ts';

export type FeedEventType = 'task' | 'node' | 'breaker';

/** One event, serialised once for every listener (an SSE frame is built from `json`). */
export interface FeedEvent {
  type: FeedEventType;
  data: unknown;
  json: string;
}

/**
 * A listener that takes its events a window at a time (the SSE hub): `onReady` says there is
 * something to take (once, until the next `take`), and `take` returns the events since the last
 * call. The feed's per-event work (parse, validate, dedup) then runs inside `take`, once per
 * window, instead of on every bus message.
 */
export interface FeedBatch {
  take(): FeedEvent[];
  unsubscribe(): void;
}

interface BatchListener {
  events: FeedEvent[];
  onReady: () => void;
}

/** A bus message waiting for the next drain, with the kind of event its subject promises. */
interface Pending {
  type: FeedEventType;
  message: BusMessage;
}

export interface EventFeedOptions {
  bus: Pick<Bus, 'subscribe'>;
  subjects: Pick<Subjects, 'taskEvents' | 'heartbeats' | 'breakers'>;
  store: Pick<TaskStore, 'query' | 'externalWriteMark'>;
  /**
   * Embedded mode: the in-process bus hears only this process's writes, so tasks submitted or
   * changed by another process (the CLI) are found by re-reading the newest tasks this often,
   * when the store says another process wrote (`externalWriteMark`; every round without it).
   */
  followStoreMs?: number;
  log: Logger;
}

const STATES: ReadonlySet<unknown> = new Set(TASK_STATES);

/** Newest tasks re-read per round when following the store; a burst bigger than this between rounds is seen when the node claims those tasks. */
const FOLLOW_WINDOW = 50;
/** States remembered (to announce each change once): between half this and this many, the oldest forgotten first. */
const MAX_KNOWN = 20_000;

/**
 * Task, node and breaker events for live views (the SSE stream, `reeve tasks --watch`): the bus
 * events of the contract (`reeve.events.task.*`, heartbeats, breakers), validated, plus in
 * embedded mode the changes found by following the store. Each task state is announced once,
 * whichever source saw it first. Subscribes to the bus only while someone listens.
 */
export class EventFeed {
  readonly #listeners = new Set<(event: FeedEvent) => void>();
  readonly #batches = new Set<BatchListener>();
  /** Bus messages not looked at yet: drained at once for a per-event listener, else on `take`. */
  #pending: Pending[] = [];
  #taker: BatchListener | undefined;
  /**
   * The last state announced per task, in two generations: a full `#known` becomes `#older` and
   * a fresh one starts. A Map used as a queue (delete the first key, re-insert on update) costs
   * ~1.3 µs an event once full, as V8 skips the deleted slots at its front; this is ~0.2.
   */
  #known = new Map<string, string>();
  #older = new Map<string, string>();
  #subscriptions: Subscription[] = [];
  #timer: NodeJS.Timeout | undefined;
  #seeded = false;
  #polling = false;
  #mark: number | undefined;

  constructor(private readonly options: EventFeedOptions) {}

  get listeners(): number {
    return this.#listeners.size + this.#batches.size;
  }

  /** Calls `listener` with every event from now on; returns the unsubscribe. */
  subscribe(listener: (event: FeedEvent) => void): () => void {
    this.#listeners.add(listener);
    this.#added();
    return () => {
      if (this.#listeners.delete(listener)) this.#removed();
    };
  }

  /** Every event from now on, taken a window at a time (see FeedBatch). */
  subscribeBatched(onReady: () => void): FeedBatch {
    const batch: BatchListener = { events: [], onReady };
    this.#batches.add(batch);
    this.#added();
    return {
      take: () => {
        // What the drain finds is taken now: no "ready" for it.
        this.#taker = batch;
        try {
          this.#drain();
        } finally {
          this.#taker = undefined;
        }
        const { events } = batch;
        batch.events = [];
        return events;
      },
      unsubscribe: () => {
        if (this.#batches.delete(batch)) this.#removed();
      },
    };
  }

  close(): void {
    this.#listeners.clear();
    this.#batches.clear();
    this.#stop();
  }

  #added(): void {
    if (this.listeners === 1) this.#start();
  }

  #removed(): void {
    if (this.listeners === 0) this.#stop();
  }

  #start(): void {
    const { bus, subjects } = this.options;
    const queue = (type: FeedEventType) => (message: BusMessage) => this.#queue(type, message);
    this.#subscriptions = [bus.subscribe(subjects.taskEvents, queue('task')), bus.subscribe(subjects.heartbeats, queue('node')), bus.subscribe(subjects.breakers, queue('breaker'))];
    const every = this.options.followStoreMs;
    if (every !== undefined) {
      this.#seeded = false;
      // #follow never rejects: it logs a failed read and tries again at the next tick.
      this.#timer = setInterval(() => void this.#follow(), every);
      this.#timer.unref();
      void this.#follow();
    }
  }

  #stop(): void {
    for (const s of this.#subscriptions) s.unsubscribe();
    this.#subscriptions = [];
    this.#pending = [];
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /**
   * The bus handler: as little as possible per message (task events are three or more per task,
   * and the node is bound by its main thread). A per-event listener needs it now; batch
   * listeners are told once that there is something to take.
   */
  #queue(type: FeedEventType, message: BusMessage): void {
    this.#pending.push({ type, message });
    if (this.#listeners.size > 0) this.#drain();
    else if (this.#pending.length === 1) for (const batch of this.#batches) if (batch.events.length === 0) batch.onReady();
  }

  #drain(): void {
    if (this.#pending.length === 0) return;
    const pending = this.#pending;
    this.#pending = [];
    for (const { type, message } of pending) this.#accept(type, message);
  }

  /** Validates a bus event and announces it (a task state only if it is news). */
  #accept(type: FeedEventType, m: BusMessage): void {
    if (type === 'task') {
      // Checked for what the feed relies on (id, state) rather than parsed whole with zod, and
      // passed on as received.
      const e = m.data as { id?: unknown; state?: unknown } | null;
      if (typeof e?.id !== 'string' || !TASK_ID_PATTERN.test(e.id) || !STATES.has(e.state)) return;
      if (this.#isNew(e.id, e.state as string)) this.#emit('task', e, m);
      return;
    }
    const parsed = (type === 'node' ? nodeHeartbeatSchema : breakerEventSchema).safeParse(m.data);
    if (parsed.success) this.#emit(type, parsed.data, m);
  }

  async #follow(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      // Read before the query, so a write that lands during it moves the mark for the next round.
      const mark = this.options.store.externalWriteMark?.();
      if (this.#seeded && mark !== undefined && mark === this.#mark) return;
      const tasks = await this.options.store.query({ limit: FOLLOW_WINDOW });
      // What the bus brought before goes first, so each state is announced in the order seen.
      this.#drain();
      // Oldest first, so a listener sees a burst of submissions in order.
      for (const task of tasks.reverse()) {
        if (this.#isNew(task.id, task.state) && this.#seeded) this.#emit('task', eventOf(task));
      }
      this.#seeded = true;
      this.#mark = mark;
    } catch (err) {
      this.options.log.debug({ err: toError(err) }, 'event feed: could not read the newest tasks; trying again');
    } finally {
      this.#polling = false;
    }
  }

  #isNew(id: string, state: string): boolean {
    if ((this.#known.get(id) ?? this.#older.get(id)) === state) return false;
    if (this.#known.size >= MAX_KNOWN / 2) {
      this.#older = this.#known;
      this.#known = new Map();
    }
    this.#known.set(id, state);
    return true;
  }

  #emit(type: FeedEventType, data: unknown, message?: BusMessage): void {
    // The bus's own JSON text when it is one line (an SSE frame ends at a blank line, so a body
    // with a newline, which only a foreign publisher could send, is re-serialised).
    const json = message && !/[\r\n]/.test(message.raw) ? message.raw : JSON.stringify(data);
    const event = { type, data, json };
    for (const listener of this.#listeners) listener(event);
    for (const batch of this.#batches) if (batch.events.push(event) === 1 && batch !== this.#taker) batch.onReady();
  }
}

/** A `reeve.events.task.<id>` event built from a record found in the store. */
function eventOf(task: TaskRecord) {
  const last = task.history.at(-1);
  return {
    id: task.id,
    kind: task.kind,
    state: task.state,
    from: last?.to === task.state ? last.from : null,
    at: task.updatedAt,
    attempts: task.attempts,
    ...(task.error ? { error: task.error } : {}),
    ...(task.result !== undefined && task.state === 'succeeded' ? { result: task.result } : {}),
  };
}
