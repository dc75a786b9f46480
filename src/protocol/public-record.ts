import { stepRecords } from './step-records.ts';
import type { TaskRecord } from './task.ts';

/**
 * Every field of the external task record. A Record over `keyof TaskRecord` so that a field
 * added to the contract must be listed here (the compiler says so); store-internal fields
 * (the saga `snapshot`, `cancelRequested`, a write's `from`) are not TaskRecord's and stay out.
 */
const FIELDS: Record<keyof TaskRecord, true> = {
  id: true,
  kind: true,
  state: true,
  step: true,
  input: true,
  priority: true,
  breakerKey: true,
  timeoutMs: true,
  labels: true,
  attempts: true,
  owner: true,
  leaseExpiresAt: true,
  heartbeatAt: true,
  availableAt: true,
  createdAt: true,
  updatedAt: true,
  result: true,
  error: true,
  history: true,
  compensations: true,
  annotations: true,
  revision: true,
  progress: true,
  steps: true,
};
const KEYS = Object.keys(FIELDS) as Array<keyof TaskRecord>;

/**
 * The contract's task record (`reeve show --json`, the client API, the HTTP API) from a stored
 * one: the contract's fields copied one by one, optional ones only when set, nothing else; and
 * `steps`, read from the saga snapshot the store keeps (see step-records.ts).
 */
export function publicRecord(task: TaskRecord & { snapshot?: unknown }): TaskRecord {
  const record: Partial<Record<keyof TaskRecord, unknown>> = {};
  for (const key of KEYS) if (task[key] !== undefined) record[key] = task[key];
  if (record.steps === undefined && task.snapshot !== undefined) {
    const steps = stepRecords(task.snapshot);
    if (steps) record.steps = steps;
  }
  return record as TaskRecord;
}
