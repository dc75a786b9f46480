import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { KindPlan } from '../actors/kind-plan.ts';
import { toError } from '../errors.ts';
import type { Logger } from '../ports/logger.ts';
import type { StoredTask } from '../ports/task-store.ts';
import { removeWorktree } from '../pool/git-worktree.ts';
import { WorkspaceJanitor } from './workspace-janitor.ts';

export interface NodeWorkspaces {
  /** A run is about to use the task's workspace: `<dataDir>/workspaces/<task id>`. */
  dir(taskId: string): Promise<string>;
  /** The task reached a terminal state: its workspace goes, unless its kind keeps it. */
  finished(task: StoredTask): void;
  /** A last sweep (the node is stopping). */
  close(): Promise<void>;
}

/** One workspace directory per task under `<dataDir>/workspaces`, removed once the task has ended. */
export function nodeWorkspaces(o: { dataDir: string; inUse: (taskId: string) => boolean; plan(kind: string): KindPlan | undefined; log: Logger }): NodeWorkspaces {
  const root = join(o.dataDir, 'workspaces');
  const janitor = new WorkspaceJanitor({ root, inUse: o.inUse, log: o.log });
  return {
    // Module agents create it on first use of ctx.workspace; command runs in CommandRunner.
    dir: async (taskId) => {
      janitor.keep(taskId);
      return join(root, taskId);
    },
    finished: (task) => {
      const plan = o.plan(task.kind);
      if (plan?.keepWorkspace) return;
      // A worktree goes through git (its branch stays: it holds the work); a plain dir is
      // removed by the janitor, in batches.
      if (!plan?.repo) return janitor.release(task.id);
      const dir = join(root, task.id);
      void removeWorktree(plan.repo, dir) // rejections end in the catch below
        .then(() => rm(dir, { recursive: true, force: true }))
        .catch((err: unknown) => o.log.warn({ err: toError(err), taskId: task.id }, 'could not remove the workspace'));
    },
    close: () => janitor.close(),
  };
}
