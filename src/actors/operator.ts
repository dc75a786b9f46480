import { InvalidTransitionError, TaskNotFoundError } from '../errors.ts';
import { persistSaga, restoreSaga, sagaState, stepSaga } from '../machines/task-saga-snapshot.ts';
import { taskSagaMachine } from '../machines/task-saga.ts';
import type { SagaEvent } from '../machines/task-saga-types.ts';
import type { Clock } from '../ports/clock.ts';
import type { Inspection } from '../ports/inspection.ts';
import type { TaskStore, TaskWrite } from '../ports/task-store.ts';
import { isTerminal } from '../protocol/task-states.ts';

/**
 * Operator decisions on a task nobody holds (approve or reject a waiting task): the saga
 * decides where it goes, and the store write is an unowned compare-and-set, so two operators
 * approving at once cannot both win.
 */
export async function decideWaitingTask(
  store: Pick<TaskStore, 'get' | 'transition'>,
  clock: Clock,
  id: string,
  decision: { type: 'task.approve'; by: string } | { type: 'task.reject'; by: string; reason: string },
  /** Live state: the decision as an operator's event to the task's actor (held by no node now). */
  inspection?: Inspection,
): Promise<TaskWrite> {
  const task = await store.get(id);
  if (!task) throw new TaskNotFoundError(id);
  if (task.state !== 'waiting' || !task.snapshot) {
    throw new InvalidTransitionError(id, task.state, decision.type === 'task.approve' ? 'approved' : 'rejected', 'only a task waiting for approval can be approved or rejected');
  }
  const before = restoreSaga(task.snapshot);
  const event = { ...decision, now: clock.now() } as SagaEvent;
  const after = stepSaga(before, event);
  if (after === before) throw new InvalidTransitionError(id, task.state, decision.type, 'the task saga refused the decision');
  const ctx = after.context;
  const to = sagaState(after);
  const written = await store.transition({
    id,
    revision: task.revision,
    to,
    reason: ctx.note,
    step: ctx.policy.steps[ctx.stepIndex]?.name ?? null,
    snapshot: persistSaga(after),
    availableAt: clock.now(),
    compensations: ctx.compensations,
    ...(to === 'succeeded' ? { result: ctx.result ?? null } : {}),
    ...(ctx.error ? { error: ctx.error } : {}),
  });
  if (inspection?.isOn) {
    const sessionId = `task:${id}`;
    inspection.actor(sessionId, undefined, { status: 'active', value: task.state, context: before.context }, taskSagaMachine);
    // Queued again (or compensating) until a node claims it: not a live actor meanwhile.
    inspection.step(sessionId, event, { status: isTerminal(to) ? 'done' : 'stopped', value: to, context: ctx }, 'operator');
  }
  return written;
}
