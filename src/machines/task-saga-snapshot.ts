import { createActor, initialTransition, transition, type SnapshotFrom } from 'xstate';
import { TASK_STATES, type TaskState } from '../protocol/task-states.ts';
import { initialSagaContext, taskSagaMachine } from './task-saga.ts';
import { completeCurrent, currentStep, enterStep, isLastStep } from './task-saga-logic.ts';
import type { Attempts } from '../protocol/task.ts';
import type { SagaEvent, SagaInput } from './task-saga-types.ts';

/** Pure helpers around the saga's snapshots: start, step, persist, restore, read the state. */
export type SagaSnapshot = SnapshotFrom<typeof taskSagaMachine>;

const taskStates = new Set<string>(TASK_STATES);

/**
 * A never-run task's snapshot. `resolveState` builds it in ~8 µs where `initialTransition` takes
 * ~70 µs (measured); the machine has no entry actions in `queued`, so the two are the same
 * (a test checks it).
 */
export function initialSaga(input: SagaInput): SagaSnapshot {
  return taskSagaMachine.resolveState({ value: 'queued', context: initialSagaContext(input) });
}

/**
 * A never-run task's snapshot once claimed: what `task.claimed` does from `queued` (the
 * `takeClaim` assign: the claim's policy and attempts, the first step's visit counted), built by
 * `resolveState` in one go instead of a snapshot and a transition (a test checks the two agree).
 */
export function claimedSaga(taskId: string, claim: { policy: SagaInput['policy']; attempts: Attempts }): SagaSnapshot {
  const step = claim.policy.steps[0]?.name;
  return taskSagaMachine.resolveState({
    value: 'running',
    context: { ...initialSagaContext({ taskId, policy: claim.policy }), attempts: claim.attempts, visits: enterStep({}, step), note: `claimed to run step ${step ?? '?'}` },
  });
}

/**
 * The common end of a run: the last step of a `running` saga succeeded with no route and no
 * gate, so the machine takes its `isLastStep` branch (`completeStep` then `finish`) to
 * `succeeded`. Built by `resolveState` (~8 µs) instead of a transition (~40 µs on a busy node);
 * undefined for every other case, which goes through `stepSaga` (a test checks the two agree).
 */
export function succeededSaga(snapshot: SagaSnapshot, event: Omit<Extract<SagaEvent, { type: 'step.succeeded' }>, 'now'>): SagaSnapshot | undefined {
  const context = snapshot.context;
  if (snapshot.value !== 'running' || event.route !== undefined || event.gate !== undefined || !isLastStep(context)) return undefined;
  const name = currentStep(context)?.name ?? '?';
  const outputs = event.output === undefined ? context.outputs : { ...context.outputs, [name]: event.output };
  return taskSagaMachine.resolveState({
    value: 'succeeded',
    context: {
      ...context,
      completed: completeCurrent(context),
      outputs,
      approval: undefined,
      feedback: undefined,
      note: `step ${name} done; task succeeded`,
      ...(event.output === undefined ? {} : { result: event.output }),
    },
  });
}

/** The reference path, for the test that checks `initialSaga` against it. */
export function initialSagaByTransition(input: SagaInput): SagaSnapshot {
  return initialTransition(taskSagaMachine, input)[0];
}

/** The task state a snapshot is in. Persisted snapshots are always in a task state. */
export function sagaState(snapshot: SagaSnapshot): TaskState {
  const value = snapshot.value;
  if (typeof value !== 'string' || !taskStates.has(value)) {
    throw new Error(`saga snapshot is in ${JSON.stringify(value)}, which is not a task state`);
  }
  return value as TaskState;
}

/** Whether the machine accepts the event in this snapshot (refused events change nothing). */
export function acceptsEvent(snapshot: SagaSnapshot, event: SagaEvent): boolean {
  return snapshot.can(event);
}

type ActorScope = Parameters<typeof taskSagaMachine.transition>[2];

/**
 * One inert actor scope for every step. xstate's `transition()` builds a throwaway actor (with
 * its own system) on each call: 67 µs, against 6.6 µs with this one (measured). Sharing it is
 * sound because the machine is pure: its actions are assigns (applied inside `transition`,
 * never executed through the scope), it spawns and invokes nothing, and nothing reads `self`.
 * The scope's actor is never started; it is built from the first snapshot stepped, because a
 * restored actor needs no input.
 */
let sharedScope: ActorScope | undefined;
function scopeFor(snapshot: SagaSnapshot): ActorScope {
  if (sharedScope) return sharedScope;
  // `input` is never read: a restored actor takes its context from the snapshot.
  const self = createActor(taskSagaMachine, { snapshot: taskSagaMachine.getPersistedSnapshot(snapshot), input: undefined as unknown as SagaInput });
  sharedScope = {
    self,
    system: self.system,
    id: '',
    sessionId: '',
    defer: () => undefined,
    logger: () => undefined,
    stopChild: () => undefined,
    emit: () => undefined,
    actionExecutor: () => undefined,
  } as unknown as ActorScope;
  return sharedScope;
}

/**
 * Sends one event; returns the same snapshot object when nothing changed (a refused event or
 * an acknowledged no-op; `acceptsEvent` tells them apart). No `can()` check first: it computes
 * the transition a second time (measured: half the saga's CPU per task).
 */
export function stepSaga(snapshot: SagaSnapshot, event: SagaEvent): SagaSnapshot {
  return taskSagaMachine.transition(snapshot, event, scopeFor(snapshot));
}

/** The reference path (xstate's `transition()`, a fresh scope per call), for the test that checks `stepSaga` against it. */
export function stepSagaByTransition(snapshot: SagaSnapshot, event: SagaEvent): SagaSnapshot {
  return transition(taskSagaMachine, snapshot, event)[0];
}

/** The form to store with the task: plain data (the context holds only JSON values). */
export function persistSaga(snapshot: SagaSnapshot): unknown {
  return taskSagaMachine.getPersistedSnapshot(snapshot);
}

/** Rebuilds a snapshot from its stored form. */
export function restoreSaga(persisted: unknown): SagaSnapshot {
  return taskSagaMachine.resolveState(persisted as Parameters<typeof taskSagaMachine.resolveState>[0]);
}
