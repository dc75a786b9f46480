import {
  InvalidTransitionError,
  LeaseLostError,
  StoreConflictError,
  TaskTerminalError,
} from '../errors.ts';
import {
  canTransition,
  isTerminal,
  LEASED_STATES,
  quarantinedAsPoison,
  REOPENABLE_STATES,
  type TaskState,
} from '../protocol/task-states.ts';

/**
 * The rules every adapter applies before a write, as pure functions over the stored row, so
 * SQLite and NATS KV refuse exactly the same writes with exactly the same errors.
 */
export interface WriteTarget {
  id: string;
  state: TaskState;
  owner?: string | undefined;
  leaseExpiresAt?: number | undefined;
  revision: number;
}

/** Fencing: throws LEASE_LOST unless `owner` holds a live lease on the task. */
export function assertLeaseHeld(task: WriteTarget, owner: string, now: number): void {
  if (task.owner !== owner) {
    const why = task.owner ? `it is now held by ${task.owner}` : 'nobody holds it (it expired and was re-queued or released)';
    throw new LeaseLostError(task.id, owner, why);
  }
  if (task.leaseExpiresAt === undefined || task.leaseExpiresAt <= now) {
    throw new LeaseLostError(task.id, owner, `it expired at ${task.leaseExpiresAt} (now ${now})`);
  }
}

export function assertRevision(task: WriteTarget, revision: number): void {
  if (task.revision !== revision) throw new StoreConflictError(task.id, revision, task.revision);
}

export function assertNotTerminal(task: WriteTarget): void {
  if (isTerminal(task.state)) throw new TaskTerminalError(task.id, task.state);
}

/** Checks a `transition` write. Order matters: a taken-over owner learns LEASE_LOST, not a conflict. */
export function checkTransition(
  task: WriteTarget,
  req: { revision: number; owner?: string | undefined; to: TaskState; release?: boolean | undefined },
  now: number,
): void {
  assertNotTerminal(task);
  if (req.owner !== undefined) assertLeaseHeld(task, req.owner, now);
  else if (task.owner !== undefined) {
    throw new InvalidTransitionError(
      task.id,
      task.state,
      req.to,
      `it is leased by ${task.owner}; only the owner may write it (ask it to stop with a cancel request)`,
    );
  }
  assertRevision(task, req.revision);
  if (!canTransition(task.state, req.to)) throw new InvalidTransitionError(task.id, task.state, req.to);
  if (req.to === 'running' && (req.owner === undefined || req.release)) {
    throw new InvalidTransitionError(task.id, task.state, req.to, 'a running task needs an owner (claim it)');
  }
}

export function checkHeartbeat(task: WriteTarget, req: { owner: string; revision: number }, now: number): void {
  assertNotTerminal(task);
  assertLeaseHeld(task, req.owner, now);
  assertRevision(task, req.revision);
}

/** Who holds the task after a write to `to`: the writer keeps it only in a leased state. */
export function leaseAfter(
  task: WriteTarget,
  req: { owner?: string | undefined; to: TaskState; leaseTtlMs?: number | undefined; release?: boolean | undefined },
  now: number,
): { owner?: string; leaseExpiresAt?: number } {
  if (req.owner === undefined || req.release || !LEASED_STATES.has(req.to)) return {};
  const leaseExpiresAt = req.leaseTtlMs !== undefined ? now + req.leaseTtlMs : task.leaseExpiresAt;
  return leaseExpiresAt === undefined ? { owner: req.owner } : { owner: req.owner, leaseExpiresAt };
}

export function checkStaleRequeue(task: WriteTarget, revision: number, now: number, deadOwner?: string): void {
  assertNotTerminal(task);
  assertRevision(task, revision);
  if (deadOwner !== undefined && task.owner === deadOwner) return;
  if (task.owner === undefined || task.leaseExpiresAt === undefined || task.leaseExpiresAt > now) {
    throw new InvalidTransitionError(
      task.id,
      task.state,
      'queued',
      task.owner === undefined ? 'it holds no lease' : `its lease is live until ${task.leaseExpiresAt}`,
    );
  }
}

export interface StaleOutcome {
  to: TaskState;
  crashes: number;
  reason: string;
  quarantined: boolean;
}

/**
 * An expired lease: `running` goes back to `queued`; unowned `cancelling`/`compensating` stay
 * where they are (claimable) so the next owner finishes the cleanup. The crash that reaches
 * `crashLimit` quarantines the task as poison.
 */
export function staleOutcome(task: WriteTarget, crashes: number, crashLimit: number, ownerDied = false): StaleOutcome {
  const next = crashes + 1;
  const lease = ownerDied ? `owner ${task.owner} died (its node restarted)` : `lease of ${task.owner} expired at ${task.leaseExpiresAt}`;
  if (next >= crashLimit) {
    return {
      to: 'quarantined',
      crashes: next,
      quarantined: true,
      reason: `${lease}; ${quarantinedAsPoison(next, crashLimit)}`,
    };
  }
  const to: TaskState = task.state === 'cancelling' || task.state === 'compensating' ? task.state : 'queued';
  return { to, crashes: next, quarantined: false, reason: `${lease}; re-queued (crash ${next} of ${crashLimit})` };
}

export function checkReopen(task: WriteTarget): void {
  if (!REOPENABLE_STATES.has(task.state)) {
    throw new InvalidTransitionError(
      task.id,
      task.state,
      'queued',
      task.state === 'succeeded'
        ? 'a succeeded task is final; submit a new task instead'
        : 'reopen applies to failed, cancelled or quarantined tasks; cancel it first',
    );
  }
}

/** What a cancel request does to a task nobody holds. */
export function cancelRequestOutcome(
  task: WriteTarget & { hasRun: boolean },
): { to: TaskState; flagOnly: boolean } {
  assertNotTerminal(task);
  if (task.owner !== undefined) return { to: task.state, flagOnly: true };
  if (task.state === 'cancelling' || task.state === 'compensating') return { to: task.state, flagOnly: true };
  // Never ran: nothing to compensate, so it is cancelled at once. Otherwise a node must claim
  // it to run the compensations of its completed steps.
  return { to: task.hasRun ? 'cancelling' : 'cancelled', flagOnly: false };
}

/** What a reopen's history entry says the task was (both stores write the same summary). */
export function reopenSummary(task: {
  state: TaskState;
  attempts: { transient: number; permanent: number; crashes: number };
  error?: { message: string } | undefined;
  compensations: ReadonlyArray<{ step: string; status: string }>;
}): string {
  const { transient, permanent, crashes } = task.attempts;
  const parts = [`was ${task.state}`, `attempts transient=${transient} permanent=${permanent} crashes=${crashes}`];
  if (task.error) parts.push(`error: ${task.error.message}`);
  if (task.compensations.length) parts.push(`compensations: ${task.compensations.map((c) => `${c.step}=${c.status}`).join(', ')}`);
  return parts.join('; ');
}
