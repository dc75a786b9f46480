/** Reeve's public API: an explicit list, no `export *`. */
export { TransientError, PermanentError } from './agent.ts';
export type { AgentContext, AgentLog, ModuleAgent, ClassifiedErrorOptions } from './agent.ts';
export { defineConfig } from './config/define-config.ts';
export { loadConfig, parseConfig } from './config/load.ts';
export { ConfigError } from './config/errors.ts';
export type { Config, ConfigInput } from './config/schema.ts';
export { startNode } from './node/start-node.ts';
export type { NodeOptions, ReeveNode } from './node/start-node.ts';
export { openSqliteTaskStore } from './store/sqlite/sqlite-task-store.ts';
export { openReeveClient } from './client.ts';
export type { ReeveClient, ReeveClientOptions, TaskListQuery, WaitOptions, TaskDecision, TaskChange } from './client.ts';
export type { Submitted } from './node/backend.ts';
export { subjects } from './protocol/subjects.ts';
export type { Subjects } from './protocol/subjects.ts';
export type { TaskStore, StoredTask, FullTask, TaskWrite } from './ports/task-store.ts';
export { ReeveError, ErrorCode, StoreConflictError, LeaseLostError, TaskTerminalError, TaskNotFoundError, InvalidInputError } from './errors.ts';
export type { TaskRecord, SubmitRequest, Json } from './protocol/task.ts';
export type { TaskState } from './protocol/task-states.ts';
