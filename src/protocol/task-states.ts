/**
 * The task states of the external contract and which store writes may move between them.
 * Both the saga machine and every store adapter obey this one table: a test checks that
 * every transition the machine can make is listed here.
 */
export const TASK_STATES = [
  'queued',
  'running',
  'backoff',
  'waiting',
  'cancelling',
  'compensating',
  'succeeded',
  'failed',
  'cancelled',
  'quarantined',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<TaskState> = new Set(['succeeded', 'failed', 'cancelled', 'quarantined']);

/** Terminal states that `reopen` (reeve retry) may move back to `queued`. */
export const REOPENABLE_STATES: ReadonlySet<TaskState> = new Set(['failed', 'cancelled', 'quarantined']);

/** States in which a node holds the task's lease while it works on it. */
export const LEASED_STATES: ReadonlySet<TaskState> = new Set(['running', 'cancelling', 'compensating']);

/**
 * States a node may claim, when no one owns the task and `availableAt` has passed.
 * `cancelling`/`compensating` are claimable when unowned so that a cancel of a queued task,
 * or a lost lease mid-compensation, still gets its compensations run by some node.
 */
export const CLAIMABLE_STATES: readonly TaskState[] = ['queued', 'backoff', 'cancelling', 'compensating'];

export function isTerminal(state: TaskState): boolean {
  return TERMINAL_STATES.has(state);
}

/**
 * Allowed `from → to` writes (besides `reopen`). Transient states may be skipped when there is
 * nothing to do in them (a plain kind has no compensations, so `running → failed` is direct).
 */
export const TASK_TRANSITIONS: Readonly<Record<TaskState, readonly TaskState[]>> = {
  queued: ['running', 'cancelling', 'compensating', 'cancelled', 'quarantined'],
  backoff: ['queued', 'running', 'cancelling', 'compensating', 'cancelled', 'quarantined'],
  running: [
    'running',
    'queued',
    'backoff',
    'waiting',
    'cancelling',
    'compensating',
    'succeeded',
    'failed',
    'cancelled',
    'quarantined',
  ],
  // waiting → waiting: a person's rejection whose goto is at its maxVisits (onMaxVisits "wait") is recorded and the task keeps waiting.
  waiting: ['waiting', 'queued', 'running', 'cancelling', 'compensating', 'succeeded', 'failed', 'cancelled'],
  cancelling: ['cancelling', 'queued', 'compensating', 'cancelled', 'quarantined'],
  compensating: ['compensating', 'queued', 'failed', 'cancelled', 'quarantined'],
  succeeded: [],
  failed: [],
  cancelled: [],
  quarantined: [],
};

export function canTransition(from: TaskState, to: TaskState): boolean {
  return TASK_TRANSITIONS[from].includes(to);
}

/**
 * The history note of the crash that reaches the crash limit: the same words whether a store's
 * stale sweep or a saga actor found the lost lease, so operators can search for one phrase.
 */
export function quarantinedAsPoison(crashes: number, crashLimit: number): string {
  return `crash ${crashes} of ${crashLimit} allowed: quarantined as poison`;
}
