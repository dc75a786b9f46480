#!/usr/bin/env node
// The `merge` step, after a person approved: merges the task's branch into the branch checked out
// in the repository's main worktree. The approval arrives as REEVE_APPROVAL (ctx.approval of a
// module agent): `reeve approve ID --input '{"message":"…"}' --reason …` sets the merge message.
import { envJson, git, mainWorktree, result, say } from './lib.mjs';

const approval = envJson('REEVE_APPROVAL');
const branch = git(['rev-parse', '--abbrev-ref', 'HEAD']);
const { path: main, branch: into } = mainWorktree();
const message = approval?.input?.message ?? `Merge ${branch}`;
const trailer = approval ? `\n\nApproved-by: ${approval.by ?? 'someone'}${approval.reason ? ` (${approval.reason})` : ''}` : '';
git(['merge', '--no-ff', '--quiet', '--message', `${message}${trailer}`, branch], main);
say(`merged ${branch} into ${into}`);
result({ merged: branch, into, commit: git(['rev-parse', '--short', 'HEAD'], main), message });
