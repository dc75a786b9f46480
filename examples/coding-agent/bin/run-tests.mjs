#!/usr/bin/env node
// The `test` step: runs the project's tests (node --test) in the task's worktree. A failure exits
// non-zero (a permanent failure of the step); a pass asks for a person: a command step has no
// ctx.waitForApproval(), so it returns { "wait": "approval", … } as its result.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { result, say } from './lib.mjs';

const files = existsSync('test') ? readdirSync('test').filter((f) => f.endsWith('.test.mjs')).map((f) => join('test', f)) : [];
if (files.length === 0) {
  say('no tests found under test/');
  process.exit(1);
}
const run = spawnSync(process.execPath, ['--test', ...files], { encoding: 'utf8' });
process.stderr.write(run.stdout + run.stderr);
if (run.status !== 0) {
  say(`tests failed (exit ${run.status})`);
  process.exit(1);
}
const passed = Number(/^# pass (\d+)/m.exec(run.stdout)?.[1] ?? 0);
result({ wait: 'approval', tests: { files: files.length, passed } });
