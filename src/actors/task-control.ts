import { operateOnTask, type TaskOperation } from './operator.ts';
import { ErrorCode, ReeveError, toError } from '../errors.ts';
import type { Bus, BusMessage, Subscription } from '../ports/bus.ts';
import type { Clock } from '../ports/clock.ts';
import type { Logger } from '../ports/logger.ts';
import type { TaskStore } from '../ports/task-store.ts';
import { TASK_ID_PATTERN } from '../protocol/patterns.ts';
import { publicRecord } from '../protocol/public-record.ts';
import { taskControlRequestSchema, type TaskControlRequest } from '../protocol/task-control.ts';
import type { TaskRecord } from '../protocol/task.ts';
import type { Subjects } from '../protocol/subjects.ts';
import { rejectOverTheWire } from './wire-rejection.ts';

/** Every node listens in this queue group, so a request is decided once however many nodes run. */
export const TASK_CONTROL_QUEUE = 'reeve-task-control';

/** A reply above this (JSON characters) leaves out the task's input, result and step outputs: NATS caps a message at 1 MiB. */
const MAX_REPLY_CHARS = 256 * 1024;

const EXAMPLE = 'send {"op":"approve","reason":"…","input":{…}} or {"op":"reject","reason":"…","goto":"<step>"}';

export interface TaskControlDeps {
  bus: Bus;
  subjects: Subjects;
  store: Pick<TaskStore, 'get' | 'transition' | 'requestCancel' | 'reopen' | 'addDeadLetter'>;
  clock: Clock;
  log: Logger;
}

/**
 * Listens on `<prefix>.control.task.<id>` (DESIGN.md, "Human steps"): `{ op: "approve" |
 * "reject" | "cancel" | "retry", reason?, input?, goto?, by? }` → `{ ok: true, task }` or
 * `{ error: { code, message } }`, through the operator code path the CLI and the HTTP API use.
 * A malformed request is answered with INVALID_INPUT naming the field, kept as a dead letter
 * and reported on `<prefix>.events.rejected`; nothing a requester sends stops the node.
 */
export function listenForTaskControl(deps: TaskControlDeps): Subscription {
  const prefix = deps.subjects.taskControl('');
  return deps.bus.subscribe(deps.subjects.taskControls, (message) => handle(deps, message, message.subject.slice(prefix.length)), { queue: TASK_CONTROL_QUEUE });
}

async function handle(deps: TaskControlDeps, message: BusMessage, id: string): Promise<void> {
  const reply = (body: unknown) => {
    if (message.reply) deps.bus.publish(message.reply, body);
  };
  const refuse = async (reason: string) => {
    await rejectOverTheWire({ ...deps, source: `nats:${message.subject}`, code: ErrorCode.InvalidInput, reason, raw: message.raw, ...(TASK_ID_PATTERN.test(id) ? { id } : {}) });
    reply({ error: { code: ErrorCode.InvalidInput, message: reason } });
  };
  if (!TASK_ID_PATTERN.test(id)) return refuse(`subject: the task id "${id.slice(0, 130)}" must be 1-128 characters of A-Z, a-z, 0-9, "_" or "-"`);
  if (message.error) return refuse(`not JSON (${message.error.message}); ${EXAMPLE}`);
  const parsed = taskControlRequestSchema.safeParse(message.data);
  if (!parsed.success) return refuse(`${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}; ${EXAMPLE}`);
  try {
    const { task } = await operateOnTask(deps.store, deps.clock, id, operation(parsed.data));
    deps.log.info({ taskId: id, op: parsed.data.op, state: task.state }, 'operator decision over NATS');
    reply({ ok: true, task: replyRecord(publicRecord(task)) });
  } catch (thrown) {
    const err = toError(thrown);
    const code = err instanceof ReeveError ? err.code : ErrorCode.Internal;
    // The task's own rules refused a field (a goto naming no step of its kind): a bad request too.
    if (code === ErrorCode.InvalidInput) return refuse(err.message);
    if (code === ErrorCode.Internal || code === ErrorCode.StoreUnavailable) deps.log.warn({ err, taskId: id, op: parsed.data.op }, 'operator decision over NATS failed');
    reply({ error: { code, message: err.message } });
  }
}

function operation(request: TaskControlRequest): TaskOperation {
  const by = request.by ?? 'nats';
  switch (request.op) {
    case 'approve':
      return { op: 'approve', by, ...(request.input === undefined ? {} : { input: request.input }), ...(request.reason === undefined ? {} : { reason: request.reason }) };
    case 'reject':
      return { op: 'reject', by, reason: request.reason!, ...(request.goto === undefined ? {} : { goto: request.goto }) };
    case 'cancel':
      return { op: 'cancel', reason: request.reason ?? `cancelled over NATS by ${by}` };
    case 'retry':
      return { op: 'retry', reason: request.reason ?? `retried over NATS by ${by}` };
  }
}

function replyRecord(record: TaskRecord): TaskRecord {
  if (JSON.stringify(record).length <= MAX_REPLY_CHARS) return record;
  const { input: _input, result: _result, steps: _steps, ...rest } = record;
  return rest;
}
