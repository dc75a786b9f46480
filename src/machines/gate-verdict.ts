import { gateVerdictSchema, type GateVerdict } from '../protocol/gate-verdict.ts';
import type { Json } from '../protocol/task.ts';
import { gateText } from './task-saga-notes.ts';
import type { Failure, GateNote, StepRoute } from './task-saga-types.ts';

/** A step's outcome once its gate has judged it, before it becomes a saga event. */
export type JudgedStep =
  | { ok: true; output: Json | undefined; route?: StepRoute; gate?: GateNote }
  | { ok: false; failure: Failure };

interface Ran {
  output: Json | undefined;
  route?: StepRoute | undefined;
}

/**
 * What a gate that ran to the end says about its step (DESIGN.md, "Human steps"): its return
 * value (a command gate's last stdout line) `{ pass, reason?, goto? }`; `ctx.goto(step)` in the
 * gate is `{ pass: false, goto: step }`; a value without `pass` passes. Pass: the step goes on
 * (the gate may still ask for approval). Fail with a goto: the task goes back there, which the
 * saga bounds by maxVisits. Fail without one: a permanent failed attempt of the step.
 */
export function judgeGate(step: string, ran: Ran, gate: Ran): JudgedStep {
  const read = readVerdict(gate.output, gate.route);
  if ('invalid' in read) {
    const message = `gate ${step} returned an invalid verdict (${read.invalid}); return { "pass": true|false, "reason"?: "…", "goto"?: "<step>" }`;
    return { ok: false, failure: { class: 'permanent', code: 'GATE_INVALID', message } };
  }
  const verdict = read.verdict ?? { pass: true };
  const note: GateNote = verdict.reason === undefined ? { pass: verdict.pass } : { pass: verdict.pass, reason: verdict.reason };
  if (verdict.pass) {
    const route = gate.route && 'wait' in gate.route ? gate.route : ran.route;
    return { ok: true, output: ran.output, ...(route ? { route } : {}), gate: note };
  }
  if (verdict.goto !== undefined) return { ok: true, output: ran.output, route: { goto: verdict.goto }, gate: note };
  return { ok: false, failure: { class: 'permanent', code: 'GATE_FAILED', message: gateText(step, note) } };
}

/**
 * A step's route: the one it set with `ctx.goto` / `ctx.waitForApproval()`, else
 * `{ wait: "approval" }` when its result says so (how a command step, which has no ctx, asks for
 * a person: its last stdout line `{"wait":"approval", …}`).
 */
export function stepRoute(output: Json | undefined, route: StepRoute | undefined): StepRoute | undefined {
  if (route) return route;
  const asks = typeof output === 'object' && output !== null && !Array.isArray(output) && output['wait'] === 'approval';
  return asks ? { wait: 'approval' } : undefined;
}

/** A gate that could not judge (it threw, exited non-zero, timed out): the step's attempt failed, classified as any run. */
export function gateRunFailed(step: string, failure: Failure): Failure {
  return { ...failure, message: `gate ${step}: ${failure.message}` };
}

function readVerdict(output: Json | undefined, route: StepRoute | undefined): { verdict?: GateVerdict } | { invalid: string } {
  const routed = route && 'goto' in route ? route.goto : undefined;
  if (typeof output === 'object' && output !== null && !Array.isArray(output) && 'pass' in output) {
    const parsed = gateVerdictSchema.safeParse(output);
    if (!parsed.success) return { invalid: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'} ${i.message}`).join('; ') };
    const verdict = parsed.data;
    // A returned verdict wins over ctx.goto; a failing one without its own goto takes ctx.goto's.
    return { verdict: verdict.pass || verdict.goto !== undefined || routed === undefined ? verdict : { ...verdict, goto: routed } };
  }
  return routed === undefined ? {} : { verdict: { pass: false, goto: routed } };
}
