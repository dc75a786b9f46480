/**
 * The TypeScript API for applications that submit and follow tasks: the same paths as the CLI
 * (`reeve submit`, `show`, `tasks`, `cancel`, `retry`, `approve`), embedded or clustered.
 */
import { openBackend } from './node/open-backend.ts';
import type { Backend, Submitted } from './node/backend.ts';
import { loadConfig, parseConfig } from './config/load.ts';
import type { Config, ConfigInput } from './config/schema.ts';
import { operateOnTask, type TaskOperation } from './actors/operator.ts';
import { ErrorCode, InvalidInputError, ReeveError } from './errors.ts';
import type { Clock } from './ports/clock.ts';
import { silentLogger, type Logger } from './ports/logger.ts';
import type { TaskState } from './protocol/task-states.ts';
import { submitRequestSchema, taskIdSchema, type SubmitRequest, type TaskRecord } from './protocol/task.ts';
import { publicRecord } from './protocol/public-record.ts';
import { parseOrThrow } from './protocol/validate.ts';
import { systemClock } from './platform/system-clock.ts';
import { waitForTask, type FollowOptions, type TaskChange } from './client/task-follow.ts';
import type { FullTask } from './ports/task-store.ts';
import { changeStream } from './client/events.ts';
import { clientOptions, decisionOptions, followOptions, listQuery, text, type ApproveOptions, type RejectOptions, type TaskListQuery } from './client/input.ts';

export type { Submitted } from './node/backend.ts';
export type { TaskChange } from './client/task-follow.ts';
export type { ApproveOptions, RejectOptions, TaskListQuery } from './client/input.ts';

/** Options of {@link ReeveClient.wait}. */
export interface WaitOptions {
  /** Stops waiting (the promise rejects with the signal's reason). Default: none, wait until the task ends. */
  signal?: AbortSignal;
  /** Called with every state change of the task, oldest first, those before the call included. Default: none. */
  onChange?(change: TaskChange): void;
}

/** What a cancel, retry, approve or reject did: the task's state right after it. */
export interface TaskDecision {
  id: string;
  state: TaskState;
}

/** The client of {@link openReeveClient}. Every method validates its input and throws {@link ReeveError}s with stable codes. */
export interface ReeveClient {
  /** `embedded` (the SQLite file of `store.path`) or `cluster` (NATS), from the config's `store.type`. */
  readonly mode: 'embedded' | 'cluster';
  /**
   * Submits a task. Embedded: a store write. Cluster: a JetStream publish on `<prefix>.submit`,
   * deduplicated by id. `id` defaults to a new time-ordered id; `priority` to 0; `breakerKey` to the
   * kind's (or the kind). The kind must be configured when the config names any kinds.
   * @throws INVALID_INPUT for a malformed request or an unknown kind.
   */
  submit(request: SubmitRequest): Promise<Submitted>;
  /** The task's record, or `undefined` when there is none (in a cluster: not pulled from the queue yet). */
  get(id: string): Promise<TaskRecord | undefined>;
  /** Tasks, newest first (default: the last 100 of any state and kind). */
  list(query?: TaskListQuery): Promise<TaskRecord[]>;
  /**
   * Resolves with the final record once the task ends (succeeded, failed, cancelled or
   * quarantined; check `state`). Embedded, a task that does not exist is TASK_NOT_FOUND; in a
   * cluster it may not be pulled yet, so the wait goes on.
   */
  wait(id: string, options?: WaitOptions): Promise<TaskRecord>;
  /**
   * The task's state changes as an async iterator, oldest first (those before the call
   * included); it ends after the change into a final state. Break out of the loop to stop.
   */
  events(id: string, options?: { signal?: AbortSignal }): AsyncIterable<TaskChange>;
  /** Asks for the task to stop; its compensations run. `reason` defaults to "cancelled by client". @throws TASK_NOT_FOUND, TASK_TERMINAL */
  cancel(id: string, reason?: string): Promise<TaskDecision>;
  /** Re-opens a failed, cancelled or quarantined task with fresh budgets. `reason` defaults to "retried by client". @throws TASK_NOT_FOUND, INVALID_TRANSITION */
  retry(id: string, reason?: string): Promise<TaskDecision>;
  /**
   * Approves a task waiting for a person; the next step sees `ctx.approval = { input?, reason?, by, at }`.
   * `by` (recorded) defaults to "client". @throws TASK_NOT_FOUND, INVALID_TRANSITION, INVALID_INPUT
   */
  approve(id: string, options?: ApproveOptions): Promise<TaskDecision>;
  /**
   * Rejects a task waiting for a person: with `goto` it goes back to that step (which sees
   * `ctx.feedback = { reason, from }`, bounded by its maxVisits), else it compensates and fails.
   * `by` defaults to "client". @throws INVALID_INPUT without a reason or with an unknown step
   */
  reject(id: string, reason: string, options?: RejectOptions): Promise<TaskDecision>;
  /**
   * Closes the store and the NATS connection. A pending `wait` or `events` loop stops and rejects
   * with CLIENT_CLOSED; later calls throw CLIENT_CLOSED; closing twice is fine.
   */
  close(): Promise<void>;
}

/** Options of {@link openReeveClient}. */
export interface ReeveClientOptions {
  /** Where `reeve.config.json|.mjs|.ts` is looked for, and relative paths resolve. Default: `process.cwd()`. */
  cwd?: string;
  /** `REEVE_*` overrides and `REEVE_CONFIG`. Default: `process.env`. */
  env?: Record<string, string | undefined>;
  /** Where the client logs (NATS reconnects). Default: nowhere. */
  log?: Logger;
  /** Default: the system clock. */
  clock?: Clock;
}

/**
 * Opens a client. `config` is a config file path, an object as `defineConfig` returns it (or a
 * parsed `Config`), or nothing: then `reeve.config.json|.mjs|.ts` is found as the CLI finds it
 * (`REEVE_CONFIG`, then the working directory; no file means the defaults: embedded,
 * `.reeve/reeve.db`). Close it when done.
 * @throws CONFIG_INVALID for a config that does not validate; STORE_UNAVAILABLE when NATS does not answer.
 */
export async function openReeveClient(config?: string | ConfigInput | Config, clientOpts?: ReeveClientOptions): Promise<ReeveClient> {
  const options = clientOptions<ReeveClientOptions>(clientOpts);
  const resolved = await resolveConfig(config, options);
  const backend = await openBackend({ config: resolved, log: options.log ?? silentLogger, clock: options.clock ?? systemClock, name: 'reeve-client', role: 'client' });
  return makeClient(backend, resolved, options.clock ?? systemClock);
}

async function resolveConfig(config: string | ConfigInput | Config | undefined, options: ReeveClientOptions): Promise<Config> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  if (config === undefined || typeof config === 'string') {
    return (await loadConfig({ cwd, env, ...(config === undefined ? {} : { configPath: config }) })).config;
  }
  if (typeof config !== 'object' || config === null) {
    throw new InvalidInputError('openReeveClient', [{ path: 'config', message: 'must be a config file path, a config object or nothing' }]);
  }
  return parseConfig(config, { baseDir: cwd });
}

function makeClient(backend: Backend, config: Config, clock: Clock): ReeveClient {
  let closed = false;
  const closedError = () => new ReeveError(ErrorCode.ClientClosed, 'this Reeve client is closed; open another with openReeveClient()');
  const open = (): Backend => {
    if (closed) throw closedError();
    return backend;
  };
  // close() aborts the pending waits and lets them settle before the store goes away, so they
  // end with CLIENT_CLOSED rather than a driver's "connection closed" from a later poll.
  const closing = new AbortController();
  const following = new Set<Promise<unknown>>();
  const follow = (b: Backend, taskId: string, o: FollowOptions): Promise<FullTask> => {
    const signal = o.signal ? AbortSignal.any([o.signal, closing.signal]) : closing.signal;
    const settled = waitForTask(b, taskId, { ...o, signal }).catch((err: unknown) => {
      throw closing.signal.aborted ? closedError() : err;
    });
    const forget = () => following.delete(settled);
    following.add(settled);
    settled.then(forget, forget);
    return settled;
  };
  const id = (value: unknown): string => parseOrThrow(taskIdSchema, value, 'task id');
  const decide = async (taskId: string, operation: TaskOperation): Promise<TaskDecision> => {
    // The state the decision left: a node may claim the task the next instant.
    const done = await operateOnTask(open().store, clock, taskId, operation);
    return { id: taskId, state: done.state };
  };
  return {
    mode: backend.mode,
    submit: async (request) => {
      const b = open();
      const parsed = parseOrThrow(submitRequestSchema, request, 'task submission') as SubmitRequest;
      const kinds = Object.keys(config.agents);
      if (kinds.length > 0 && !kinds.includes(parsed.kind)) {
        throw new InvalidInputError('task submission', [{ path: 'kind', message: `"${parsed.kind}" is not a configured kind; configured: ${kinds.join(', ')}` }]);
      }
      const breakerKey = parsed.breakerKey ?? config.agents[parsed.kind]?.breakerKey;
      return b.submit({ ...parsed, ...(breakerKey ? { breakerKey } : {}) });
    },
    get: async (taskId) => {
      const task = await open().store.get(id(taskId));
      return task ? publicRecord(task) : undefined;
    },
    list: async (query = {}) => {
      const b = open();
      return (await b.store.query(listQuery(query))).map(publicRecord);
    },
    wait: async (taskId, o) => {
      const b = open();
      return publicRecord(await follow(b, id(taskId), followOptions<WaitOptions>('wait', o, true)));
    },
    events: (taskId, o) => {
      const b = open();
      const checked = id(taskId);
      const { signal } = followOptions<{ signal?: AbortSignal }>('events', o, false);
      return changeStream((onChange, inner) => follow(b, checked, { onChange, signal: inner }), signal);
    },
    cancel: async (taskId, reason) => {
      const task = await open().store.requestCancel(id(taskId), text(reason, 'reason', 'cancelled by client'));
      return { id: task.id, state: task.state };
    },
    retry: async (taskId, reason) => {
      const task = await open().store.reopen(id(taskId), text(reason, 'reason', 'retried by client'));
      return { id: task.id, state: task.state };
    },
    approve: async (taskId, o) => decide(id(taskId), { op: 'approve', ...decisionOptions('approve', o, undefined) }),
    reject: async (taskId, reason, o) => {
      if (reason === undefined) throw new InvalidInputError('reject', [{ path: 'reason', message: 'is required: say why the task is rejected' }]);
      return decide(id(taskId), { op: 'reject', ...decisionOptions('reject', o, text(reason, 'reason', '')) } as TaskOperation);
    },
    close: async () => {
      if (closed) return;
      closed = true;
      closing.abort(closedError());
      await Promise.allSettled(following);
      await backend.close();
    },
  };
}

