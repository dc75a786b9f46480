import * as logic from './task-saga-logic.ts';
import type { GateNote, SagaContext } from './task-saga-types.ts';

/**
 * The history lines of routing and decisions (DESIGN.md: every gate verdict and every `goto`
 * is a history entry with the reason and the visit count), e.g.
 * `gate review: fail — "tests missing" → develop (visit 2 of 3)`.
 */

/** A reason as it appears in a note: quoted (so its own words cannot pass for ours), cut at 300 characters. */
export function quoted(text: string): string {
  return JSON.stringify(text.length > 300 ? `${text.slice(0, 299)}…` : text);
}

export function gateText(step: string, gate: GateNote): string {
  return `gate ${step}: ${gate.pass ? 'pass' : 'fail'}${gate.reason ? ` — ${quoted(gate.reason)}` : ''}`;
}

/** What led to a `goto`: a failed gate, a step's own route, or a person's rejection. */
export function routeLead(context: SagaContext, cause: { gate?: GateNote | undefined } | { rejectedBy: string; reason: string }): string {
  if ('rejectedBy' in cause) return `rejected by ${cause.rejectedBy}: ${quoted(cause.reason)}`;
  const step = logic.currentStep(context)?.name ?? '?';
  if (cause.gate && !cause.gate.pass) return gateText(step, cause.gate);
  return `step ${step} done${cause.gate ? `; ${gateText(step, cause.gate)}` : ''}`;
}

/** `(visit 2 of 3)`: the target's visit this `goto` makes, against its maxVisits. */
export function nextVisit(context: SagaContext, target: string): string {
  return `(visit ${(context.visits[target] ?? 0) + 1} of ${maxVisitsOf(context, target)})`;
}

/** `3 of 3`: the visits the target has had, against its maxVisits. */
export function visitsUsed(context: SagaContext, target: string): string {
  return `${context.visits[target] ?? 0} of ${maxVisitsOf(context, target)}`;
}

function maxVisitsOf(context: SagaContext, target: string): number | string {
  return context.policy.steps[logic.stepIndexOf(context, target)]?.maxVisits ?? '?';
}

/** `approved by ana: "ship it" (with input)`. */
export function approvalLead(by: string, reason: string | undefined, withInput: boolean): string {
  return `approved by ${by}${reason ? `: ${quoted(reason)}` : ''}${withInput ? ' (with input)' : ''}`;
}
