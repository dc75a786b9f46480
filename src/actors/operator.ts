import { InvalidInputError, InvalidTransitionError, TaskNotFoundError } from '../errors.ts';
import { persistSaga, restoreSaga, sagaState, stepSaga } from '../machines/task-saga-snapshot.ts';
import { taskSagaMachine } from '../machines/task-saga.ts';
import type { SagaEvent } from '../machines/task-saga-types.ts';
import type { Clock } from '../ports/clock.ts';
import type { Inspection } from '../ports/inspection.ts';
import type { FullTask, TaskStore, TaskWrite } from '../ports/task-store.ts';
import { isTerminal, type TaskState } from '../protocol/task-states.ts';
import type { Json } from '../protocol/task.ts';

/** A person's decision on a waiting task, as the saga takes it. */
export type WaitingDecision =
  | { type: 'task.approve'; by: string; input?: Json; reason?: string }
  | { type: 'task.reject'; by: string; reason: string; goto?: string };

/**
 * One operator operation, from whichever surface (CLI, HTTP, NATS, the client API): the one
 * code path behind `approve | reject | cancel | retry`. Validated by the caller (zod at its
 * boundary); the task's own rules (its state, its steps) are checked here.
 */
export type TaskOperation =
  | { op: 'approve'; by: string; input?: Json; reason?: string }
  | { op: 'reject'; by: string; reason: string; goto?: string }
  | { op: 'cancel'; reason: string }
  | { op: 'retry'; reason: string };

type OperatorStore = Pick<TaskStore, 'get' | 'transition' | 'requestCancel' | 'reopen'>;

/** What an operation did: the state and step its write left (a node may have moved the task on since), and the task as read after it. */
export interface OperationResult {
  state: TaskState;
  step?: string;
  /** The history line of a decision (`rejected by ana: "…" → develop (visit 2 of 3)`). */
  reason?: string;
  task: FullTask;
}

/**
 * Performs the operation. `inspection`: live state, a decision is shown as an operator's event
 * to the task's actor.
 */
export async function operateOnTask(store: OperatorStore, clock: Clock, id: string, operation: TaskOperation, inspection?: Inspection): Promise<OperationResult> {
  let written: { state: TaskState; step?: string | undefined; reason?: string };
  switch (operation.op) {
    case 'cancel':
      written = await store.requestCancel(id, operation.reason);
      break;
    case 'retry':
      written = await store.reopen(id, operation.reason);
      break;
    case 'approve':
      written = await decideWaitingTask(store, clock, id, { type: 'task.approve', by: operation.by, ...pick(operation, 'input', 'reason') }, inspection);
      break;
    case 'reject':
      written = await decideWaitingTask(store, clock, id, { type: 'task.reject', by: operation.by, reason: operation.reason, ...pick(operation, 'goto') }, inspection);
      break;
  }
  const task = await store.get(id);
  if (!task) throw new TaskNotFoundError(id);
  return { state: written.state, ...(written.step ? { step: written.step } : {}), ...(written.reason ? { reason: written.reason } : {}), task };
}

/**
 * Operator decisions on a task nobody holds (approve or reject a waiting task): the saga
 * decides where it goes, and the store write is an unowned compare-and-set, so two operators
 * approving at once cannot both win. The approval's input and reason, or the rejection's
 * feedback, go into the saga snapshot in the same write: durable before anything runs.
 */
export async function decideWaitingTask(
  store: Pick<TaskStore, 'get' | 'transition'>,
  clock: Clock,
  id: string,
  decision: WaitingDecision,
  /** Live state: the decision as an operator's event to the task's actor (held by no node now). */
  inspection?: Inspection,
): Promise<TaskWrite & { reason: string }> {
  const task = await store.get(id);
  if (!task) throw new TaskNotFoundError(id);
  const verb = decision.type === 'task.approve' ? 'approved' : 'rejected';
  if (task.state !== 'waiting' || !task.snapshot) {
    throw new InvalidTransitionError(id, task.state, verb, 'only a task waiting for approval can be approved or rejected');
  }
  const before = restoreSaga(task.snapshot);
  if (decision.type === 'task.reject' && decision.goto !== undefined) {
    const steps = before.context.policy.steps.map((s) => s.name);
    if (!steps.includes(decision.goto)) {
      throw new InvalidInputError('reject', [{ path: 'goto', message: `"${decision.goto}" is not a step of kind ${task.kind}; its steps: ${steps.join(', ')}` }]);
    }
  }
  const event = { ...decision, now: clock.now() } as SagaEvent;
  const after = stepSaga(before, event);
  if (after === before) throw new InvalidTransitionError(id, task.state, verb, 'the task saga refused the decision');
  const ctx = after.context;
  const to = sagaState(after);
  const reason = clip(ctx.note, 1900);
  const written = await store.transition({
    id,
    revision: task.revision,
    to,
    reason,
    step: ctx.policy.steps[ctx.stepIndex]?.name ?? null,
    snapshot: persistSaga(after),
    availableAt: clock.now(),
    compensations: ctx.compensations,
    // A rejection that leaves the task waiting (its goto is at maxVisits) is still a decision to record.
    record: true,
    ...(to === 'succeeded' ? { result: ctx.result ?? null } : {}),
    ...(ctx.error ? { error: ctx.error } : {}),
  });
  if (inspection?.isOn) {
    const sessionId = `task:${id}`;
    inspection.actor(sessionId, undefined, { status: 'active', value: task.state, context: before.context }, taskSagaMachine);
    // Queued again (or compensating) until a node claims it: not a live actor meanwhile.
    inspection.step(sessionId, event, { status: isTerminal(to) ? 'done' : 'stopped', value: to, context: ctx }, 'operator');
  }
  return { ...written, reason };
}

const clip = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

function pick<T extends object, K extends keyof T>(value: T, ...keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const key of keys) if (value[key] !== undefined) out[key] = value[key];
  return out;
}
