// Helpers shared by the example's stand-in CLIs: git in the task's worktree, stdin, output.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Who the stand-ins commit as (a real agent CLI brings its own identity or uses yours); unsigned, whatever your git config says. */
const IDENTITY = ['-c', 'user.name=Example Agent', '-c', 'user.email=agent@example.invalid', '-c', 'commit.gpgsign=false', '-c', 'tag.gpgsign=false'];

/** Runs git in `cwd` (default: the working directory, which Reeve makes the task's worktree). */
export function git(args, cwd = process.cwd()) {
  try {
    return execFileSync('git', [...IDENTITY, ...args], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    // One clear line in the run log (and the task's error), not a stack trace.
    say(`git ${args.join(' ')} failed: ${String(err.stderr || err.stdout || err.message).trim()}`);
    process.exit(1);
  }
}

/** The repository's main worktree (the first in `git worktree list`) and the branch checked out there. */
export function mainWorktree() {
  const path = /^worktree (.+)$/m.exec(git(['worktree', 'list', '--porcelain']))[1];
  return { path, branch: git(['rev-parse', '--abbrev-ref', 'HEAD'], path) };
}

/** Files this task's branch changed since it forked from the main branch. */
export function changedOnBranch() {
  const base = git(['merge-base', 'HEAD', mainWorktree().branch]);
  return git(['diff', '--name-only', base, 'HEAD']).split('\n').filter(Boolean);
}

/** Commits everything in the worktree; returns the new commit's short hash. */
export function commitAll(message) {
  git(['add', '--all']);
  git(['commit', '--quiet', '--message', message]);
  return git(['rev-parse', '--short', 'HEAD']);
}

/** The JSON Reeve writes on stdin: the task's input for a step, `{ input, output }` for a gate. */
export function readStdinJson() {
  try {
    const text = readFileSync(0, 'utf8').trim();
    return text === '' ? null : JSON.parse(text);
  } catch {
    return null;
  }
}

/** `REEVE_FEEDBACK` / `REEVE_APPROVAL`: ctx.feedback and ctx.approval of a module agent, as JSON. */
export function envJson(name) {
  const text = process.env[name];
  return text ? JSON.parse(text) : undefined;
}

/** Narration goes to stderr (Reeve keeps it in the run log); the last stdout line is the step's result. */
export const say = (line) => process.stderr.write(`${line}\n`);
export const result = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);
