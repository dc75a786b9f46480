import type Database from 'better-sqlite3';
import { TERMINAL_STATES } from '../../protocol/task-states.ts';
import type { ParsedPurge } from '../request-schemas.ts';

/**
 * The ids of the finished tasks `req` selects, oldest first, deleted with their history and
 * annotations unless `dryRun`. Run it inside the store's write transaction, so that what is
 * checked is what is deleted.
 */
export function purgeFinished(db: Database.Database, req: ParsedPurge, dryRun: boolean): string[] {
  const states = req.states ?? [...TERMINAL_STATES];
  const marks = states.map(() => '?').join(', ');
  const found = db
    .prepare<unknown[], { id: string }>(`SELECT id FROM tasks WHERE state IN (${marks}) AND updated_at < ? ORDER BY updated_at, seq LIMIT ?`)
    .all(...states, req.before, req.limit ?? 1000)
    .map((r) => r.id);
  if (!dryRun && found.length > 0) {
    const del = (table: string, column: string) => db.prepare(`DELETE FROM ${table} WHERE ${column} = ?`);
    const [history, annotations, tasks] = [del('task_history', 'task_id'), del('task_annotations', 'task_id'), del('tasks', 'id')];
    for (const id of found) {
      history.run(id);
      annotations.run(id);
      tasks.run(id);
    }
  }
  return found;
}
