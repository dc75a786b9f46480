import type { Bus, Subscription } from '../ports/bus.ts';
import type { Logger } from '../ports/logger.ts';
import type { TaskStore } from '../ports/task-store.ts';
import { nodeControlSchema } from '../protocol/messages.ts';
import type { Subjects } from '../protocol/subjects.ts';
import { rejectOverTheWire } from './wire-rejection.ts';

export interface NodeControlDeps {
  bus: Bus;
  subjects: Subjects;
  node: { id: string; incarnation: string };
  store: Pick<TaskStore, 'addDeadLetter'>;
  clock: { now(): number };
  log: Logger;
  /** Starts draining (does not wait for it to finish). False when the node is already stopping. */
  drain(deadlineMs: number | undefined): boolean;
}

/**
 * Listens on `<prefix>.nodes.control.<node>`. A valid `{ op: "drain", deadlineMs? }` starts a
 * drain and, when sent as a request, is answered at once with `{ accepted, node, incarnation }`;
 * the end of the drain is announced on `<prefix>.nodes.drained.<node>`. Anything else is a bad
 * message: kept as a dead letter, reported on `<prefix>.events.rejected` (and to the requester).
 */
export function listenForControl(deps: NodeControlDeps): Subscription {
  const { bus, subjects, node } = deps;
  const subject = subjects.control(node.id);
  return bus.subscribe(subject, async (message) => {
    const parsed = message.error ? undefined : nodeControlSchema.safeParse(message.data);
    if (!parsed?.success) {
      const reason = message.error
        ? `not JSON (${message.error.message}); send {"op":"drain","deadlineMs":30000}`
        : `${parsed!.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}; send {"op":"drain","deadlineMs":30000}`;
      await rejectOverTheWire({ ...deps, source: `nats:${subject}`, code: 'INVALID_INPUT', reason, raw: message.raw });
      if (message.reply) bus.publish(message.reply, { accepted: false, node: node.id, incarnation: node.incarnation, reason });
      return;
    }
    const accepted = deps.drain(parsed.data.deadlineMs);
    deps.log.info({ deadlineMs: parsed.data.deadlineMs, accepted }, 'drain requested over NATS');
    if (message.reply) bus.publish(message.reply, { accepted, node: node.id, incarnation: node.incarnation, ...(accepted ? {} : { reason: 'the node is already stopping' }) });
  });
}
