/**
 * Live state for the XState inspector (DESIGN.md, "XState inspector"): what the supervisor, the
 * saga actors and the breaker board report at the places where they already step their state.
 * The adapter (src/http/inspect/) turns the reports into Stately inspection events; with
 * `--inspect` off the node gets `noInspection` and nothing is built or loaded.
 */

/** `active` while the actor lives; any other status ends it (a late receiver no longer sees it). */
export type InspectedStatus = 'active' | 'done' | 'error' | 'stopped';

/** A snapshot as the inspector shows it: `value` the state, `context` raw (the adapter sanitizes). */
export interface InspectedSnapshot {
  status: InspectedStatus;
  value: unknown;
  context?: unknown;
}

/** An event an actor received: `type` plus its (raw, sanitized by the adapter) payload. */
export interface InspectedEvent {
  type: string;
  [field: string]: unknown;
}

/** An XState machine, whose `config` is the definition the inspector draws. */
export interface InspectedMachine {
  readonly id: string;
  readonly config: unknown;
}

/**
 * Who sent an event to an actor: a role the adapter names (`dispatcher`: the claim, `runner`: a
 * run's outcome, `operator`: a person, `node`: drain or shutdown), or an actor's session id.
 */
export type InspectedSource = 'dispatcher' | 'runner' | 'operator' | 'node' | { sessionId: string };

export interface Inspection {
  /** False for `noInspection`: callers may skip building what they would report. */
  readonly isOn: boolean;
  /**
   * An actor came to life: a started (or restarted: a new session id) supervised child, a task's
   * saga actor, a breaker first seen. `parentId` is its supervisor's session id.
   */
  actor(sessionId: string, parentId: string | undefined, snapshot: InspectedSnapshot, machine?: InspectedMachine): void;
  /** An actor took an event and is now in `snapshot` (a status other than `active` ends it). */
  step(sessionId: string, event: InspectedEvent, snapshot: InspectedSnapshot, source?: InspectedSource): void;
}

/** Inspection off: every report is dropped. */
export const noInspection: Inspection = { isOn: false, actor: () => undefined, step: () => undefined };
