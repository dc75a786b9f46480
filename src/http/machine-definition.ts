import { circuitBreakerMachine } from '../machines/circuit-breaker.ts';
import { taskSagaMachine } from '../machines/task-saga.ts';

/** The machines whose definitions the dashboard and the inspector draw. */
export const MACHINES = { taskSaga: taskSagaMachine, circuitBreaker: circuitBreakerMachine } as const;
export type MachineName = keyof typeof MACHINES;

/**
 * A machine's definition (its config) as JSON text, the form `@xstate.actor` events carry:
 * functions (inline guards, the context factory) become `{ type: name }`, as @statelyai/inspect
 * serializes them.
 */
export function definitionOf(machine: { config: unknown }): string {
  return JSON.stringify(machine.config, (_key, value: unknown) => (typeof value === 'function' ? { type: (value as { name: string }).name } : value));
}
