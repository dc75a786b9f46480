import { assertEvent, assign, not, setup } from 'xstate';
import { quarantinedAsPoison } from '../protocol/task-states.ts';
import type { Attempts } from '../protocol/task.ts';
import * as logic from './task-saga-logic.ts';
import * as notes from './task-saga-notes.ts';
import type { SagaContext, SagaEvent, SagaInput } from './task-saga-types.ts';

/**
 * The task saga: one actor per in-flight task, persisted after every transition.
 * Pure: no I/O, no clock (times arrive in events), no randomness (jitter arrives in events).
 * The actor that runs it performs the effects the state asks for: run the current step in
 * `running`, stop the run in `cancelling`, run the head of `pendingCompensations` in
 * `compensating`, and write every snapshot to the store with `context.note` as the reason.
 *
 * Terminal states are not XState `final` states: they must still accept `task.annotate`
 * and (failed/cancelled/quarantined) `task.reopen`. Every other event is refused there, which
 * `snapshot.can(event)` reports.
 */
const ZERO: Attempts = { transient: 0, permanent: 0, crashes: 0 };

type Ctx = { context: SagaContext; event: SagaEvent };

const approvalOf = (event: Extract<SagaEvent, { type: 'task.approve' }>) => ({
  ...(event.input === undefined ? {} : { input: event.input }),
  ...(event.reason === undefined ? {} : { reason: event.reason }),
  by: event.by,
  at: event.now,
});

/** The context of a task that has never run. */
export function initialSagaContext(input: SagaInput): SagaContext {
  return {
    taskId: input.taskId,
    policy: input.policy,
    stepIndex: 0,
    visits: {},
    completed: [],
    outputs: {},
    attempts: ZERO,
    pendingCompensations: [],
    compensations: [],
    note: 'submitted',
  };
}

const stepName = (context: SagaContext): string => logic.currentStep(context)?.name ?? '?';
const routeOf = (event: SagaEvent) => (event.type === 'step.succeeded' ? event.route : undefined);
/** Where a step's route, a failed gate or a person's rejection sends the task back to. */
const gotoOf = (event: SagaEvent) => {
  if (event.type === 'task.reject') return event.goto;
  const route = routeOf(event);
  return route && 'goto' in route ? route.goto : undefined;
};
/** The words before `→ <step>` in the history: who or what sent the task there. */
const leadOf = (context: SagaContext, event: SagaEvent) =>
  event.type === 'task.reject'
    ? notes.routeLead(context, { rejectedBy: event.by, reason: event.reason })
    : notes.routeLead(context, { gate: event.type === 'step.succeeded' ? event.gate : undefined });
/** What the step sent back sees as `ctx.feedback`: a rejection's or a failed gate's reason. */
const feedbackOf = (context: SagaContext, event: SagaEvent) => {
  const from = stepName(context);
  if (event.type === 'task.reject') return { reason: event.reason, from };
  if (event.type === 'step.succeeded' && event.gate && !event.gate.pass) return { reason: event.gate.reason ?? `the gate of step ${from} failed`, from };
  return undefined;
};
/** The gate verdict of a step that goes on, as the history shows it: `; gate review: pass — "ok"`. */
const passNote = (context: SagaContext, event: SagaEvent) =>
  event.type === 'step.succeeded' && event.gate ? `; ${notes.gateText(stepName(context), event.gate)}` : '';
const countedOf = ({ context, event }: Ctx) => {
  assertEvent(event, 'attempt.failed');
  return logic.countedAs(event.failure, context.policy);
};

export const taskSagaMachine = setup({
  types: {
    input: {} as SagaInput,
    context: {} as SagaContext,
    events: {} as SagaEvent,
  },
  guards: {
    wantsApproval: ({ event }) => {
      const route = routeOf(event);
      return route !== undefined && 'wait' in route;
    },
    isUnknownGoto: ({ context, event }) => {
      const target = gotoOf(event);
      return target !== undefined && logic.stepIndexOf(context, target) < 0;
    },
    canGoto: ({ context, event }) => {
      const target = gotoOf(event);
      return target !== undefined && logic.canVisit(context, target);
    },
    gotoWaitsAtLimit: ({ context, event }) => {
      const target = gotoOf(event);
      return target !== undefined && context.policy.steps[logic.stepIndexOf(context, target)]?.onMaxVisits === 'wait';
    },
    isGoto: ({ event }) => gotoOf(event) !== undefined,
    isKnownGoto: ({ context, event }) => {
      const target = gotoOf(event);
      return target !== undefined && logic.stepIndexOf(context, target) >= 0;
    },
    isLastStep: ({ context }) => logic.isLastStep(context),
    isUncounted: (args) => countedOf(args) === 'none',
    isCrash: (args) => countedOf(args) === 'crashes',
    isExhausted: (args) => {
      assertEvent(args.event, 'attempt.failed');
      const counted = countedOf(args);
      return logic.isExhausted(logic.addFailure(args.context.attempts, counted), counted, args.context.policy);
    },
    isRepeated: ({ context, event }) => event.type === 'attempt.failed' && logic.isRepeatedFailure(context.fingerprints, event.failure, context.policy),
    isHeadCompensation: ({ context, event }) =>
      (event.type === 'compensation.succeeded' || event.type === 'compensation.failed') &&
      context.pendingCompensations[0] === event.step,
    nothingToCompensate: ({ context }) => context.pendingCompensations.length === 0,
    aCompensationFailed: ({ context }) => context.compensations.some((c) => c.status === 'failed'),
    endsCancelled: ({ context }) => context.outcome === 'cancelled',
  },
  actions: {
    // Accepts an event that changes nothing (an annotation, a repeated cancel): `can()` then
    // reports it as accepted, where a bare `{}` transition would read as refused.
    acknowledge: () => {},
    takeClaim: assign(({ context, event }) => {
      assertEvent(event, 'task.claimed');
      const step = event.policy.steps[context.stepIndex]?.name;
      const visits = step && !context.visits[step] ? logic.enterStep(context.visits, step) : context.visits;
      return { policy: event.policy, attempts: event.attempts, visits, note: `claimed to run step ${step ?? '?'}` };
    }),
    refreshClaim: assign(({ context, event }) => {
      assertEvent(event, 'task.claimed');
      return { policy: event.policy, attempts: event.attempts, note: `claimed to resume ${context.outcome === 'cancelled' ? 'cancel' : 'cleanup'}` };
    }),
    resumeRun: assign(({ context, event }) => {
      assertEvent(event, 'task.claimed');
      return { policy: event.policy, attempts: event.attempts, note: `claimed to re-run step ${stepName(context)} after its run was lost` };
    }),
    completeStep: assign(({ context, event }) => {
      assertEvent(event, 'step.succeeded');
      const outputs = event.output === undefined ? context.outputs : { ...context.outputs, [stepName(context)]: event.output };
      // The approval or feedback was for this step, which has now used it.
      return { completed: logic.completeCurrent(context), outputs, approval: undefined, feedback: undefined };
    }),
    noteWaiting: assign(({ context, event }) => ({ note: `step ${stepName(context)} done${passNote(context, event)}; waiting for approval` })),
    noteVisitLimit: assign(({ context, event }) => {
      const target = gotoOf(event)!;
      return { note: `${leadOf(context, event)} → ${target}, which has had ${notes.visitsUsed(context, target)} visits (maxVisits); waiting for a person` };
    }),
    gotoStep: assign(({ context, event }) => {
      const target = gotoOf(event)!;
      return {
        note: `${leadOf(context, event)} → ${target} ${notes.nextVisit(context, target)}`,
        stepIndex: logic.stepIndexOf(context, target),
        visits: logic.enterStep(context.visits, target),
        feedback: feedbackOf(context, event),
        approval: undefined,
      };
    }),
    nextStep: assign(({ context, event }) => {
      const next = context.policy.steps[context.stepIndex + 1]?.name;
      return { note: `step ${stepName(context)} done${passNote(context, event)}; next ${next}`, stepIndex: context.stepIndex + 1, visits: logic.enterStep(context.visits, next) };
    }),
    finish: assign(({ context, event }) => {
      assertEvent(event, ['step.succeeded', 'task.approve']);
      const output = event.type === 'step.succeeded' ? event.output : context.outputs[stepName(context)];
      const lead = event.type === 'step.succeeded' ? `step ${stepName(context)} done${passNote(context, event)}` : notes.approvalLead(event.by, event.reason, event.input !== undefined);
      return { note: `${lead}; task succeeded`, ...(output === undefined ? {} : { result: output }), ...(event.type === 'task.approve' ? { approval: approvalOf(event) } : {}) };
    }),
    failOnRoute: assign(({ context, event }) => {
      const target = gotoOf(event)!;
      const unknown = logic.stepIndexOf(context, target) < 0;
      const message = unknown
        ? `step ${stepName(context)} routed to "${target}", which is not a step of this kind`
        : `${leadOf(context, event)} → ${target}: past its maxVisits (${notes.visitsUsed(context, target)})`;
      return { outcome: 'failed' as const, note: message, error: { class: 'permanent' as const, code: unknown ? 'BAD_ROUTE' : 'MAX_VISITS', message } };
    }),
    countFailure: assign(({ context, event }) => {
      assertEvent(event, 'attempt.failed');
      const counted = logic.countedAs(event.failure, context.policy);
      const fingerprints = [...(context.fingerprints ?? []), logic.failureFingerprint(event.failure)].slice(-10);
      return { attempts: logic.addFailure(context.attempts, counted), error: logic.failureError(event.failure), fingerprints };
    }),
    giveUpRepeated: assign(({ context, event }) => {
      assertEvent(event, 'attempt.failed');
      const message = `the same failure ${context.policy.poisonRepeats} times in a row: ${event.failure.message}`;
      return {
        outcome: 'failed' as const,
        note: `step ${stepName(context)}: repeated-failure; stopped retrying (${message})`,
        error: { class: event.failure.class, code: 'REPEATED_FAILURE', message },
      };
    }),
    scheduleRetry: assign(({ context, event }) => {
      assertEvent(event, 'attempt.failed');
      const counted = logic.countedAs(event.failure, context.policy) as 'transient' | 'permanent';
      const delay = logic.backoffDelayMs(context.policy, counted, context.attempts[counted], event.jitter, event.failure.retryAfterMs);
      const max = context.policy.retry[counted].maxAttempts;
      return {
        availableAt: event.now + delay,
        note: `step ${stepName(context)} failed (${event.failure.class}, ${context.attempts[counted]} of ${max}): ${event.failure.message}; retry in ${delay} ms`,
      };
    }),
    giveUp: assign(({ context, event }) => {
      assertEvent(event, 'attempt.failed');
      return { outcome: 'failed' as const, note: `step ${stepName(context)} failed (${event.failure.class}) and its budget is spent: ${event.failure.message}` };
    }),
    noteCrash: assign(({ context, event }) => {
      assertEvent(event, 'attempt.failed');
      return { note: `run of step ${stepName(context)} lost its lease (crash ${context.attempts.crashes} of ${context.policy.crashLimit}): ${event.failure.message}` };
    }),
    noteQuarantinedCrash: assign(({ context }) => ({
      note: quarantinedAsPoison(context.attempts.crashes, context.policy.crashLimit),
    })),
    noteHandback: assign(({ event }) => {
      assertEvent(event, ['task.handback', 'attempt.failed']);
      return { note: event.type === 'task.handback' ? `handed back: ${event.reason}` : `run stopped without a charge: ${event.failure.message}` };
    }),
    startCancel: assign(({ event }) => {
      assertEvent(event, 'task.cancel');
      return { outcome: 'cancelled' as const, note: `cancel: ${event.reason}`, error: { class: 'cancelled' as const, message: event.reason } };
    }),
    reject: assign(({ event }) => {
      assertEvent(event, 'task.reject');
      const message = `rejected by ${event.by}: ${event.reason}`;
      return { outcome: 'failed' as const, note: message, error: { class: 'permanent' as const, code: 'REJECTED', message } };
    }),
    approveNext: assign(({ context, event }) => {
      assertEvent(event, 'task.approve');
      const next = context.policy.steps[context.stepIndex + 1]?.name;
      return {
        note: `${notes.approvalLead(event.by, event.reason, event.input !== undefined)}; next ${next}`,
        stepIndex: context.stepIndex + 1,
        visits: logic.enterStep(context.visits, next),
        approval: approvalOf(event),
        feedback: undefined,
      };
    }),
    planCompensations: assign(({ context }) => ({
      pendingCompensations: logic.compensationPlan(context.completed, context.policy.steps),
    })),
    recordCompensationDone: assign(({ context, event }) => {
      assertEvent(event, 'compensation.succeeded');
      return {
        pendingCompensations: context.pendingCompensations.slice(1),
        compensations: [...context.compensations, { step: event.step, status: 'done' as const, at: event.now }],
        note: `compensation of ${event.step} done`,
      };
    }),
    recordCompensationFailed: assign(({ context, event }) => {
      assertEvent(event, 'compensation.failed');
      const rest = context.pendingCompensations.slice(1);
      return {
        pendingCompensations: [],
        compensations: [
          ...context.compensations,
          { step: event.step, status: 'failed' as const, at: event.now, error: event.message },
          ...logic.skipRest(rest, event.step, event.now),
        ],
        note: `compensation of ${event.step} failed: ${event.message}`,
      };
    }),
    quarantineForCompensation: assign(({ context }) => {
      const failed = context.compensations.filter((c) => c.status === 'failed').map((c) => c.step);
      const message = `compensation failed for ${failed.join(', ')}; quarantined for a person to finish the cleanup`;
      return { note: message, error: { class: 'compensation' as const, code: 'COMPENSATION_FAILED', message } };
    }),
    // With nothing compensated, the note of the failure or cancel that got us here stands.
    noteEnd: assign(({ context }) =>
      context.compensations.length === 0
        ? {}
        : { note: `${context.outcome === 'cancelled' ? 'cancelled' : 'failed'} after compensations (${context.compensations.map((c) => `${c.step}=${c.status}`).join(', ')})` },
    ),
    reopen: assign(({ event }) => {
      assertEvent(event, 'task.reopen');
      return {
        policy: event.policy,
        stepIndex: 0,
        visits: {},
        completed: [],
        outputs: {},
        attempts: ZERO,
        availableAt: undefined,
        result: undefined,
        error: undefined,
        outcome: undefined,
        pendingCompensations: [],
        compensations: [],
        fingerprints: undefined,
        approval: undefined,
        feedback: undefined,
        note: `reopened: ${event.reason}`,
      };
    }),
  },
}).createMachine({
  id: 'taskSaga',
  context: ({ input }) => initialSagaContext(input),
  initial: 'queued',
  states: {
    queued: {
      on: {
        'task.claimed': { target: 'running', actions: 'takeClaim' },
        'task.cancel': { target: 'compensating', actions: ['startCancel', 'planCompensations'] },
      },
    },
    running: {
      on: {
        'step.succeeded': [
          { guard: 'wantsApproval', target: 'waiting', actions: ['completeStep', 'noteWaiting'] },
          { guard: 'isUnknownGoto', target: 'compensating', actions: ['completeStep', 'failOnRoute', 'planCompensations'] },
          { guard: 'canGoto', target: 'running', reenter: true, actions: ['completeStep', 'gotoStep'] },
          { guard: 'gotoWaitsAtLimit', target: 'waiting', actions: ['completeStep', 'noteVisitLimit'] },
          { guard: 'isGoto', target: 'compensating', actions: ['completeStep', 'failOnRoute', 'planCompensations'] },
          { guard: 'isLastStep', target: 'succeeded', actions: ['completeStep', 'finish'] },
          { target: 'running', reenter: true, actions: ['completeStep', 'nextStep'] },
        ],
        'attempt.failed': [
          { guard: 'isUncounted', target: 'queued', actions: 'noteHandback' },
          { guard: 'isCrash', target: 'crashed', actions: 'countFailure' },
          { guard: 'isRepeated', target: 'compensating', actions: ['countFailure', 'giveUpRepeated', 'planCompensations'] },
          { guard: 'isExhausted', target: 'compensating', actions: ['countFailure', 'giveUp', 'planCompensations'] },
          { target: 'backoff', actions: ['countFailure', 'scheduleRetry'] },
        ],
        'task.claimed': { target: 'running', reenter: true, actions: 'resumeRun' },
        'task.handback': { target: 'queued', actions: 'noteHandback' },
        'task.cancel': { target: 'cancelling', actions: 'startCancel' },
      },
    },
    // Transient: decides between re-queue and quarantine once the crash is counted.
    crashed: {
      always: [
        { guard: ({ context }) => context.attempts.crashes >= context.policy.crashLimit, target: 'quarantined', actions: 'noteQuarantinedCrash' },
        { target: 'queued', actions: 'noteCrash' },
      ],
    },
    backoff: {
      on: {
        'task.claimed': { target: 'running', actions: 'takeClaim' },
        'task.cancel': { target: 'compensating', actions: ['startCancel', 'planCompensations'] },
      },
    },
    waiting: {
      on: {
        'task.approve': [
          { guard: 'isLastStep', target: 'succeeded', actions: 'finish' },
          { target: 'queued', actions: 'approveNext' },
        ],
        // With a goto: back to that step, bounded by its maxVisits (then its onMaxVisits: stay
        // waiting, or fail). A goto to a step the kind does not have is refused.
        'task.reject': [
          { guard: 'canGoto', target: 'queued', actions: 'gotoStep' },
          { guard: 'gotoWaitsAtLimit', target: 'waiting', actions: 'noteVisitLimit' },
          { guard: 'isKnownGoto', target: 'compensating', actions: ['failOnRoute', 'planCompensations'] },
          { guard: not('isGoto'), target: 'compensating', actions: ['reject', 'planCompensations'] },
        ],
        'task.cancel': { target: 'compensating', actions: ['startCancel', 'planCompensations'] },
      },
    },
    cancelling: {
      on: {
        'run.stopped': { target: 'compensating', actions: 'planCompensations' },
        'task.claimed': { actions: 'refreshClaim' },
        'task.cancel': { actions: 'acknowledge' },
      },
    },
    compensating: {
      always: [
        { guard: 'nothingToCompensate', target: 'ending' },
      ],
      on: {
        'compensation.succeeded': { guard: 'isHeadCompensation', target: 'compensating', reenter: true, actions: 'recordCompensationDone' },
        'compensation.failed': { guard: 'isHeadCompensation', target: 'compensating', reenter: true, actions: 'recordCompensationFailed' },
        'task.claimed': { actions: 'refreshClaim' },
        'task.cancel': { actions: 'acknowledge' },
      },
    },
    // Transient: picks the terminal state once no compensation is left.
    ending: {
      always: [
        { guard: 'aCompensationFailed', target: 'quarantined', actions: 'quarantineForCompensation' },
        { guard: 'endsCancelled', target: 'cancelled', actions: 'noteEnd' },
        { target: 'failed', actions: 'noteEnd' },
      ],
    },
    succeeded: { on: { 'task.annotate': { actions: 'acknowledge' } } },
    failed: { on: { 'task.annotate': { actions: 'acknowledge' }, 'task.reopen': { target: 'queued', actions: 'reopen' } } },
    cancelled: { on: { 'task.annotate': { actions: 'acknowledge' }, 'task.reopen': { target: 'queued', actions: 'reopen' } } },
    quarantined: { on: { 'task.annotate': { actions: 'acknowledge' }, 'task.reopen': { target: 'queued', actions: 'reopen' } } },
  },
});

export type TaskSagaMachine = typeof taskSagaMachine;
