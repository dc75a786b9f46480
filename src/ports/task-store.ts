import type {
  Annotation,
  Attempts,
  CompensationRecord,
  Json,
  SubmitRequest,
  TaskError,
  TaskRecord,
  TaskState,
} from '../protocol/task.ts';

/**
 * A task as the runtime works with it: the external record plus the persisted saga snapshot.
 * `history` and `annotations` are only filled by `get` and `query`; hot paths (claim,
 * transition) return `StoredTask` without them to keep writes O(1) in the history length.
 */
export interface StoredTask extends Omit<TaskRecord, 'history' | 'annotations'> {
  /** The saga actor's persisted snapshot (`getPersistedSnapshot()`), if it ever ran. */
  snapshot?: unknown;
  /** Set by `requestCancel` on a task some node owns; that node sees it on its next write. */
  cancelRequested?: { at: number; reason: string };
  /** The last `details` given to `heartbeat`. */
  progress?: Json;
  /**
   * The state before the write that returned this record; only set by writes (`claim`,
   * `requeueStale`, `requestCancel`, `reopen`, and `submit`: `null` when it created the task).
   * Left undefined when the call wrote nothing: a submit that found the task, a cancel request
   * on a task already flagged. Never stored: `get` and `query` do not return it.
   */
  from?: TaskState | null;
}

/** A task with its history and annotations, as `get` returns it. */
export type FullTask = TaskRecord & StoredTask;

/**
 * What a hot-path write (transition, heartbeat) returns: the fields the writer must track, plus
 * the task's `kind` and the state it was in before the write (`from`), so that a task event can
 * be published without another read.
 */
export interface TaskWrite
  extends Pick<StoredTask, 'id' | 'kind' | 'state' | 'step' | 'owner' | 'leaseExpiresAt' | 'heartbeatAt' | 'availableAt' | 'attempts' | 'revision' | 'updatedAt'> {
  /** The state before this write: equal to `state` for a heartbeat or a write within one state. */
  from: TaskState;
}

export interface SubmitResult {
  task: StoredTask;
  /** false when a task with this id already existed: the existing record is returned unchanged. */
  created: boolean;
}

export interface ClaimRequest {
  /** `nodeId:incarnation`: who will hold the leases. */
  owner: string;
  /** How many tasks at most (1..1000). */
  limit: number;
  leaseTtlMs: number;
  /** Breaker keys whose breaker is open: their tasks are not claimed. */
  excludeBreakerKeys?: readonly string[];
  /** Only these kinds (when a per-kind slot limit leaves room for some kinds only). */
  kinds?: readonly string[];
  /** Only tasks with one of these breaker keys (a half-open breaker's single probe). */
  breakerKeys?: readonly string[];
}

/** How a claim or a group commit reaches the store. */
export interface WriteOptions {
  /**
   * Built by the node's runtime from what it already validated (its config, its saga, an
   * agent's result checked in the worker): the adapter skips re-validating it with zod (~4 % of
   * a node's main thread per no-op task). Input from outside (CLI, HTTP, client) never sets it.
   */
  trusted?: boolean;
}

export interface TransitionRequest {
  id: string;
  /** The revision the writer read; any other stored revision is a STORE_CONFLICT. */
  revision: number;
  /**
   * The lease holder making this write (fenced: LEASE_LOST unless it still holds a live lease).
   * Omitted for an unowned write (an operator, or the dispatcher finishing a cancel), which is
   * allowed only while nobody holds the task.
   */
  owner?: string;
  to: TaskState;
  reason: string;
  /** `null` clears it. */
  step?: string | null;
  attempts?: Attempts;
  result?: Json;
  error?: TaskError | null;
  availableAt?: number;
  compensations?: CompensationRecord[];
  snapshot?: unknown;
  /** Renew the lease to now + this, when `to` is a leased state. */
  leaseTtlMs?: number;
  /** Give the task up even in a leased state (a drain mid-compensation): it becomes claimable. */
  release?: boolean;
  /**
   * A change of state is always a history entry. Within one state, `true` writes one even when
   * the step does not change (a step that a `goto` enters again, a person's decision that leaves
   * the task waiting); `false` writes none even when it does (bookkeeping, such as naming the
   * step a claim started); absent, one exactly when the step changes.
   */
  record?: boolean;
}

export interface HeartbeatRequest {
  id: string;
  owner: string;
  revision: number;
  leaseTtlMs: number;
  details?: Json;
}

export interface StaleRequeueOptions {
  /** The crash that brings `attempts.crashes` to this number quarantines the task (default 3). */
  crashLimit: number;
  /**
   * The caller knows the owner is dead although its lease has not expired yet: a restarted
   * node taking back its previous incarnation's tasks. Only that owner's tasks qualify.
   */
  deadOwner?: string;
}

export interface TaskQuery {
  state?: TaskState;
  kind?: string;
  /** Default 100. */
  limit?: number;
}

/** Which finished tasks `purge` deletes. */
export interface PurgeRequest {
  /** Only tasks whose last change (`updatedAt`, ms since the epoch) is before this. */
  before: number;
  /** Terminal states only. Default: all four (succeeded, failed, cancelled, quarantined). */
  states?: TaskState[];
  /** At most this many, oldest first. Default 1000, at most 10000: run it again for more. */
  limit?: number;
  /** Report what would go, delete nothing. */
  dryRun?: boolean;
}

export interface PurgeResult {
  /** The ids deleted (or that would be, with dryRun), oldest first. */
  ids: string[];
  dryRun: boolean;
}

export interface DeadLetterPurge {
  before: number;
  limit?: number;
  dryRun?: boolean;
}

export interface DeadLetterInput {
  /** Where it came from: `nats:reeve.submit`, `cli`, `http`. */
  source: string;
  code: string;
  reason: string;
  id?: string;
  /** The raw payload as received (kept whole up to 1 MiB, then truncated). */
  payload: string;
}

export interface DeadLetter extends DeadLetterInput {
  seq: number;
  receivedAt: number;
  excerpt: string;
}

/**
 * Everything the runtime needs from durable state. Every adapter (SQLite, NATS KV) passes
 * the same conformance suite (`test/conformance/task-store.suite.ts`).
 *
 * Errors: STORE_CONFLICT (stale revision), LEASE_LOST (fencing), TASK_TERMINAL,
 * INVALID_TRANSITION, TASK_NOT_FOUND, INVALID_INPUT. A rejected write changes nothing.
 */
export interface TaskStore {
  /** Idempotent on id: a second submit with the same id returns the first task. */
  submit(request: SubmitRequest): Promise<SubmitResult>;
  get(id: string): Promise<FullTask | undefined>;
  /**
   * Atomically leases up to `limit` claimable tasks, highest priority first, FIFO within one
   * (the KV store lets a node's own young tasks go first within a short window, see task-index.ts).
   */
  claim(request: ClaimRequest, options?: WriteOptions): Promise<StoredTask[]>;
  /** Extends the lease; owner, revision and a live lease are checked. Returns the new revision. */
  heartbeat(request: HeartbeatRequest): Promise<TaskWrite>;
  /** Compare-and-set write of a state change (or of progress in the same state). */
  transition(request: TransitionRequest): Promise<TaskWrite>;
  /**
   * Group commit: applies each write on its own terms (checks, CAS) but commits them together.
   * A refused write does not stop the others; its slot holds the error it would have thrown.
   */
  transitionMany(requests: readonly TransitionRequest[], options?: WriteOptions): Promise<Array<TaskWrite | Error>>;
  /** Tasks whose lease has expired, oldest expiry first. */
  listStale(limit?: number): Promise<StoredTask[]>;
  /** Tasks held by owners whose name starts with `ownerPrefix` (a node's incarnations). */
  listOwned(ownerPrefix: string, limit?: number): Promise<StoredTask[]>;
  /** Returns an expired lease's task to the queue with `crashes + 1`, or quarantines it. */
  requeueStale(id: string, revision: number, options: StaleRequeueOptions): Promise<StoredTask>;
  /** Asks the owner of a running task to cancel it (bumps the revision so the owner re-reads). */
  requestCancel(id: string, reason: string): Promise<StoredTask>;
  /** Cancel requests on tasks this owner holds: a cheap read the owner polls so a cancel is prompt. */
  listCancelRequests(owner: string): Promise<Array<{ id: string; reason: string }>>;
  /** Adds an audit note; allowed in every state, terminal ones included. */
  annotate(id: string, note: Omit<Annotation, 'at'>): Promise<void>;
  /** `failed | cancelled | quarantined → queued` with fresh budgets: the one write out of a terminal state. */
  reopen(id: string, reason: string): Promise<StoredTask>;
  /** Full records, newest first. */
  query(query?: TaskQuery): Promise<TaskRecord[]>;
  /**
   * SQLite only: a number that moves whenever another connection (another process, such as the
   * CLI) has committed a write; this connection's own writes leave it alone. Live views re-read
   * the newest tasks only when it moved. The KV store has none: every write is announced on NATS.
   */
  externalWriteMark?(): number;
  countByState(): Promise<Partial<Record<TaskState, number>>>;
  /** Tasks in state `queued` of these kinds (a cluster node's intake: what waits for it). */
  countQueued(kinds: readonly string[]): Promise<number>;
  /**
   * Deletes finished tasks (record, history, annotations) for good. Only terminal tasks that
   * are still terminal and still older than `before` when they are deleted: a task reopened
   * meanwhile is left alone. Nothing else may depend on a purged id; it can be submitted again.
   */
  purge(request: PurgeRequest): Promise<PurgeResult>;
  addDeadLetter(letter: DeadLetterInput): Promise<DeadLetter>;
  listDeadLetters(limit?: number): Promise<DeadLetter[]>;
  /**
   * Deletes dead letters received before `before`, oldest first, at most `limit` (default
   * 1000, at most 10000). Returns their numbers (what would go, with dryRun).
   */
  purgeDeadLetters(request: DeadLetterPurge): Promise<{ seqs: number[]; dryRun: boolean }>;
  close(): Promise<void>;
}
