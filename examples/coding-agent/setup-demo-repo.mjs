#!/usr/bin/env node
// Creates the git repository the example works on (`repo` in reeve.config.json): ./demo-repo,
// one commit on `main`. Each task gets a worktree of it on the branch reeve/<task id>.
//   node setup-demo-repo.mjs [DIR]
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), 'demo-repo'));
if (existsSync(join(dir, '.git'))) {
  console.log(`${dir} is already a git repository; leaving it as it is`);
  process.exit(0);
}
const git = (...args) => execFileSync('git', ['-c', 'user.name=Example', '-c', 'user.email=example@example.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
mkdirSync(dir, { recursive: true });
git('init', '--quiet');
// `git init -b` needs git 2.28; this names the first branch on any version.
git('symbolic-ref', 'HEAD', 'refs/heads/main');
writeFileSync(join(dir, 'README.md'), '# demo\n\nA repository for the coding-agent example of Reeve.\n');
writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'demo', private: true, type: 'module' }, null, 2)}\n`);
git('add', '--all');
git('commit', '--quiet', '--message', 'initial commit');
console.log(`created ${dir} (branch main)`);
