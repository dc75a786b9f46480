import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import { TASK_STATES, type TaskState } from '../protocol/task-states.ts';
import { taskSagaMachine } from './task-saga.ts';
import type { SagaEvent, SagaInput } from './task-saga-types.ts';

/** Pure helpers around the saga's snapshots: start, step, persist, restore, read the state. */
export type SagaSnapshot = SnapshotFrom<typeof taskSagaMachine>;

const taskStates = new Set<string>(TASK_STATES);

export function initialSaga(input: SagaInput): SagaSnapshot {
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

/** Sends one event; returns the same snapshot when the event is refused. */
export function stepSaga(snapshot: SagaSnapshot, event: SagaEvent): SagaSnapshot {
  if (!snapshot.can(event)) return snapshot;
  return transition(taskSagaMachine, snapshot, event)[0];
}

/** The JSON-safe form to store with the task. */
export function persistSaga(snapshot: SagaSnapshot): unknown {
  return JSON.parse(JSON.stringify(taskSagaMachine.getPersistedSnapshot(snapshot)));
}

/** Rebuilds a snapshot from its stored form. */
export function restoreSaga(persisted: unknown): SagaSnapshot {
  return taskSagaMachine.resolveState(persisted as Parameters<typeof taskSagaMachine.resolveState>[0]);
}
