/**
 * Reeve's one error class. `code` is API: the CLI's `--json` output, wire rejections and log
 * queries match on it, so a code is never renamed.
 */
export const ErrorCode = {
  /** Input (a CLI argument, an API call, a message) failed validation. */
  InvalidInput: 'INVALID_INPUT',
  ConfigInvalid: 'CONFIG_INVALID',
  /** A compare-and-set write carried a revision that is no longer current. */
  StoreConflict: 'STORE_CONFLICT',
  /** The writer no longer owns the task's lease (expired, taken over, or never held). */
  LeaseLost: 'LEASE_LOST',
  /** The task is in a terminal state; only annotations and reopen may touch it. */
  TaskTerminal: 'TASK_TERMINAL',
  /** The transition is not allowed from the task's current state. */
  InvalidTransition: 'INVALID_TRANSITION',
  TaskNotFound: 'TASK_NOT_FOUND',
  NodeNotFound: 'NODE_NOT_FOUND',
  /** The target refused the operation in its current state (e.g. a node already stopping). */
  Refused: 'REFUSED',
  StoreUnavailable: 'STORE_UNAVAILABLE',
  StoreSchema: 'STORE_SCHEMA',
  /** A method of a closed `openReeveClient()` client was called. */
  ClientClosed: 'CLIENT_CLOSED',
  Internal: 'INTERNAL',
  /** HTTP: the request carried no bearer token where one is required. */
  Unauthorized: 'UNAUTHORIZED',
  /** HTTP: a wrong token, or a `Host` header the node does not answer to. */
  Forbidden: 'FORBIDDEN',
  /** HTTP: a request body over the limit (the 1 MiB input plus its envelope). */
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  /** HTTP: no such route, dead letter or run log. */
  NotFound: 'NOT_FOUND',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ReeveErrorOptions extends ErrorOptions {
  data?: Record<string, unknown>;
}

export class ReeveError extends Error {
  override name = 'ReeveError';
  readonly data: Record<string, unknown>;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options: ReeveErrorOptions = {},
  ) {
    super(message, options);
    this.data = options.data ?? {};
  }
}

/** A compare-and-set lost: re-read the task and decide again. */
export class StoreConflictError extends ReeveError {
  override name = 'StoreConflictError';
  constructor(
    readonly taskId: string,
    readonly expectedRevision: number,
    readonly actualRevision: number | undefined,
  ) {
    super(
      ErrorCode.StoreConflict,
      actualRevision === undefined
        ? `task ${taskId} does not exist (expected revision ${expectedRevision})`
        : `task ${taskId} is at revision ${actualRevision}, not ${expectedRevision}; re-read it and retry`,
      { data: { taskId, expectedRevision, actualRevision } },
    );
  }
}

/** Fencing: the writer's lease is gone. It must stop its run and write nothing more. */
export class LeaseLostError extends ReeveError {
  override name = 'LeaseLostError';
  constructor(
    readonly taskId: string,
    readonly owner: string,
    reason: string,
  ) {
    super(ErrorCode.LeaseLost, `lease on task ${taskId} lost by ${owner}: ${reason}; stop the run`, {
      data: { taskId, owner, reason },
    });
  }
}

export class TaskTerminalError extends ReeveError {
  override name = 'TaskTerminalError';
  constructor(
    readonly taskId: string,
    readonly state: string,
  ) {
    super(
      ErrorCode.TaskTerminal,
      `task ${taskId} is ${state}, a terminal state; only an annotation or a reopen (reeve retry) may change it`,
      { data: { taskId, state } },
    );
  }
}

export class InvalidTransitionError extends ReeveError {
  override name = 'InvalidTransitionError';
  constructor(taskId: string, from: string, to: string, hint = '') {
    super(ErrorCode.InvalidTransition, `task ${taskId} cannot go from ${from} to ${to}${hint ? `: ${hint}` : ''}`, {
      data: { taskId, from, to },
    });
  }
}

export class TaskNotFoundError extends ReeveError {
  override name = 'TaskNotFoundError';
  constructor(readonly taskId: string) {
    super(ErrorCode.TaskNotFound, `task ${taskId} not found; list tasks with \`reeve tasks\``, { data: { taskId } });
  }
}

/** A validation failure; `issues` lists each field path with what was wrong. */
export class InvalidInputError extends ReeveError {
  override name = 'InvalidInputError';
  constructor(
    readonly what: string,
    readonly issues: ReadonlyArray<{ path: string; message: string }>,
  ) {
    super(ErrorCode.InvalidInput, `invalid ${what}: ${issues.map((i) => `${i.path || '(root)'}: ${i.message}`).join('; ')}`, {
      data: { what, issues },
    });
  }
}

/** Turns anything thrown into an Error, once, at the catch. */
export function toError(thrown: unknown): Error {
  if (thrown instanceof Error) return thrown;
  return new Error(typeof thrown === 'string' ? thrown : JSON.stringify(thrown));
}

export interface WireError {
  code: string;
  message: string;
  data?: Record<string, unknown>;
}

/** Structured clone and JSON drop the class and `code`: errors cross boundaries in this shape. */
export function toWire(err: unknown): WireError {
  const e = toError(err);
  if (e instanceof ReeveError) return { code: e.code, message: e.message, data: e.data };
  const code = (e as { code?: unknown }).code;
  return { code: typeof code === 'string' ? code : ErrorCode.Internal, message: e.message };
}

const knownCodes = new Set<string>(Object.values(ErrorCode));

export function fromWire(wire: WireError): ReeveError {
  const code = (knownCodes.has(wire.code) ? wire.code : ErrorCode.Internal) as ErrorCode;
  return new ReeveError(code, wire.message, { data: { ...wire.data, wireCode: wire.code } });
}
