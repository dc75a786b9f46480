import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import type { RunOutcome, RunRequest } from '../ports/runner.ts';

/** The per-task branch of a kind with a `repo`. */
export const worktreeBranch = (taskId: string): string => `reeve/${taskId}`;

async function git(repo: string, args: string[]): Promise<{ ok: boolean; output: string }> {
  const result = await execa('git', ['-C', repo, ...args], { reject: false, all: true, stdin: 'ignore' });
  return { ok: result.exitCode === 0, output: (result.all ?? '').trim() };
}

/**
 * Reeve's own first step for kinds with a `repo`: the task's workspace becomes a git worktree
 * on `reeve/<task id>`. `add` is idempotent (a re-run after a crash finds the worktree there);
 * `remove` (the step's compensation) removes the worktree and deletes the branch.
 */
export class GitWorktreeRunner {
  async run(req: RunRequest): Promise<RunOutcome> {
    if (req.handler.type !== 'worktree') throw new Error('GitWorktreeRunner runs worktree handlers only');
    const { repo, op } = req.handler;
    const branch = worktreeBranch(req.taskId);
    if (op === 'add') {
      if (existsSync(join(req.workspace, '.git'))) return { ok: true, output: { branch, path: req.workspace } };
      const exists = (await git(repo, ['rev-parse', '--verify', '--quiet', `refs/heads/${branch}`])).ok;
      const added = await git(repo, exists ? ['worktree', 'add', req.workspace, branch] : ['worktree', 'add', '-b', branch, req.workspace]);
      if (!added.ok) return { ok: false, failure: { class: 'permanent', code: 'WORKTREE_FAILED', message: `git worktree add in ${repo} failed: ${added.output}` } };
      return { ok: true, output: { branch, path: req.workspace } };
    }
    const removed = await removeWorktree(repo, req.workspace);
    const deleted = await git(repo, ['branch', '-D', branch]);
    if (!removed.ok || (!deleted.ok && !/not found/.test(deleted.output))) {
      return { ok: false, failure: { class: 'permanent', code: 'WORKTREE_FAILED', message: `cannot remove worktree ${req.workspace} / branch ${branch}: ${removed.output} ${deleted.output}`.trim() } };
    }
    return { ok: true, output: null };
  }

  async close(): Promise<void> {}
}

/** Removes a task's worktree directory (the branch stays). Missing is fine. */
export async function removeWorktree(repo: string, path: string): Promise<{ ok: boolean; output: string }> {
  if (!existsSync(path)) {
    await git(repo, ['worktree', 'prune']);
    return { ok: true, output: '' };
  }
  return git(repo, ['worktree', 'remove', '--force', path]);
}
