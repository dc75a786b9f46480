/**
 * Every subject of the external contract (DESIGN.md, "External contract" > NATS), built from the
 * configured prefix (`nats.prefix`, default `reeve`). Task ids, node ids and breaker keys are
 * already restricted to `[A-Za-z0-9_-]`, so they are safe subject tokens.
 */
export interface Subjects {
  /** JetStream work-queue subject of submissions. */
  submit: string;
  taskEvent(id: string): string;
  /** Wildcard over every task event. */
  taskEvents: string;
  rejected: string;
  heartbeat(node: string): string;
  heartbeats: string;
  control(node: string): string;
  /** A node announces it has drained (after handing back what it could not finish). */
  drained(node: string): string;
  breaker(key: string): string;
  breakers: string;
  /** Operator decisions on one task (request/reply): approve, reject, cancel, retry. */
  taskControl(id: string): string;
  /** Wildcard over every task's control subject (nodes listen in one queue group). */
  taskControls: string;
}

export function subjects(prefix = 'reeve'): Subjects {
  return {
    submit: `${prefix}.submit`,
    taskEvent: (id) => `${prefix}.events.task.${id}`,
    taskEvents: `${prefix}.events.task.*`,
    rejected: `${prefix}.events.rejected`,
    heartbeat: (node) => `${prefix}.nodes.heartbeat.${node}`,
    heartbeats: `${prefix}.nodes.heartbeat.*`,
    control: (node) => `${prefix}.nodes.control.${node}`,
    drained: (node) => `${prefix}.nodes.drained.${node}`,
    breaker: (key) => `${prefix}.breaker.${key}`,
    breakers: `${prefix}.breaker.*`,
    taskControl: (id) => `${prefix}.control.task.${id}`,
    taskControls: `${prefix}.control.task.*`,
  };
}
