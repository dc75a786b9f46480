import type { GateStore } from './gate-store.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { OutboxStore } from './outbox.ts';
import type { TaskStore } from './task-store.ts';

/** Everything a node keeps durably: tasks, gates (breakers, preflight), membership and the notification outbox. Both backends implement it. */
export type ReeveStore = TaskStore & GateStore & NodeRegistry & OutboxStore;
