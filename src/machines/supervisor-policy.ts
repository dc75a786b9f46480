/**
 * The pure decisions of an OTP-style supervisor: whether an exited child is restarted, which
 * siblings go with it, how long to wait, and when the restart intensity is exceeded. No I/O and
 * no clock: the time of each exit arrives as `now`, so every rule is testable with plain numbers.
 */

/** permanent: always restarted; transient: restarted after a crash only; temporary: never. */
export type RestartType = 'permanent' | 'transient' | 'temporary';

/** one_for_one: restart only the exited child; rest_for_one: it and every child started after it. */
export type Strategy = 'one_for_one' | 'rest_for_one';

export interface SupervisorSpec {
  strategy: Strategy;
  /** At most `maxRestarts` restarts within any `periodMs` window; the next one escalates. */
  intensity: { maxRestarts: number; periodMs: number };
  /** Delay before a restart: `min(maxMs, baseMs × 2^(n-1))`, n = restarts in the window. 0: immediate. */
  backoff: { baseMs: number; maxMs: number };
}

/** A child as the policy sees it; a list of these is in start order. */
export interface ChildEntry {
  id: string;
  restart: RestartType;
}

export interface SupervisorState {
  /** Times (epoch ms) of the restarts still inside the intensity window, oldest first. */
  restarts: number[];
}

export interface ChildExit {
  childId: string;
  reason: 'normal' | 'crash';
  /** Epoch ms of the exit; the caller reads its clock, the policy never does. */
  now: number;
}

export type SupervisorDecision =
  /** The child is not (or no longer) supervised, e.g. it was terminated already: nothing to do. */
  | { type: 'none' }
  /** The child is not restarted (temporary, or transient after a normal exit): drop it. */
  | { type: 'remove'; childId: string }
  | {
      type: 'restart';
      /** Children to start again after `delayMs`, in start order. */
      childIds: string[];
      /**
       * Later siblings to stop first (rest_for_one), in reverse start order. A temporary one is
       * stopped but not in `childIds`: OTP never restarts a temporary child, even when a
       * sibling's crash took it down.
       */
      stopIds: string[];
      delayMs: number;
    }
  | { type: 'escalate'; reason: string };

export function initialSupervisorState(): SupervisorState {
  return { restarts: [] };
}

export function shouldRestart(restart: RestartType, reason: ChildExit['reason']): boolean {
  switch (restart) {
    case 'permanent':
      return true;
    case 'transient':
      return reason === 'crash';
    case 'temporary':
      return false;
  }
}

/**
 * The restarts still in the window ending at `now`. Like OTP's supervisor, a restart exactly
 * `periodMs` ago still counts.
 */
export function restartsInWindow(restarts: readonly number[], periodMs: number, now: number): number[] {
  return restarts.filter((t) => t >= now - periodMs);
}

/** `n` counts the restarts in the window including this one, so the first waits `baseMs`. */
export function restartDelayMs(backoff: SupervisorSpec['backoff'], n: number): number {
  // 0 × 2^n would be NaN once 2^n overflows to Infinity; 0 means "no backoff" anyway.
  if (backoff.baseMs <= 0) return 0;
  return Math.min(backoff.maxMs, backoff.baseMs * 2 ** Math.max(0, n - 1));
}

/** What a supervisor does when one of its `children` exits. Returns the next state with it. */
export function decideOnExit(
  state: SupervisorState,
  spec: SupervisorSpec,
  children: readonly ChildEntry[],
  exit: ChildExit,
): { state: SupervisorState; decision: SupervisorDecision } {
  const index = children.findIndex((c) => c.id === exit.childId);
  const child = children[index];
  if (!child) return { state, decision: { type: 'none' } };
  if (!shouldRestart(child.restart, exit.reason)) return { state, decision: { type: 'remove', childId: child.id } };

  const { maxRestarts, periodMs } = spec.intensity;
  const restarts = [...restartsInWindow(state.restarts, periodMs, exit.now), exit.now];
  const next = { restarts };
  if (restarts.length > maxRestarts) {
    const reason = `child ${child.id} exited (${exit.reason}); restart ${restarts.length} within ${periodMs} ms exceeds maxRestarts ${maxRestarts}`;
    return { state: next, decision: { type: 'escalate', reason } };
  }
  const later = spec.strategy === 'rest_for_one' ? children.slice(index + 1) : [];
  return {
    state: next,
    decision: {
      type: 'restart',
      childIds: [child.id, ...later.filter((c) => c.restart !== 'temporary').map((c) => c.id)],
      stopIds: later.map((c) => c.id).reverse(),
      delayMs: restartDelayMs(spec.backoff, restarts.length),
    },
  };
}
