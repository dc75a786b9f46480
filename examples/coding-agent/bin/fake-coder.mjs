#!/usr/bin/env node
// A stand-in for a coding-agent CLI (`claude -p "…"`, `codex exec "…"`): no network, no model.
// It works where Reeve starts it, the task's git worktree, commits what it wrote, narrates on
// stderr and prints its result as the last line of stdout, as such CLIs do in JSON mode.
//
//   fake-coder.mjs --role analysis|develop|review|abandon -p PROMPT   (task input on stdin)
//
// develop answers like a rate-limited provider on its first run ("429 … retry-after: 1", exit 1),
// so Reeve classifies the failure transient and retries after the delay; input.rateLimited sets
// how many runs get that answer (0: none). It adds tests only when it is told to (feedback), so
// the review asks for changes once. input.strictReview makes the review never satisfied.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { changedOnBranch, commitAll, envJson, git, readStdinJson, result, say } from './lib.mjs';

const { values } = parseArgs({ options: { role: { type: 'string' }, p: { type: 'string', default: '' } } });
const input = readStdinJson() ?? {};
const taskId = process.env.REEVE_TASK_ID ?? 'local';
const attempt = Number(process.env.REEVE_ATTEMPT ?? '1');
const feedback = envJson('REEVE_FEEDBACK');
// Files of this task's own (plans/<id>.md, notes/<id>.md, test/slugify-<id>.test.mjs): a
// repository where earlier tasks merged their work still shows this one's, and never conflicts.
const testFile = `test/slugify-${taskId}.test.mjs`;

const SOURCE = `// Turns a title into a URL slug.
export function slugify(text) {
  return String(text).toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
}
`;
const TESTS = `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { slugify } from '../src/slugify.mjs';

test('lower-cases and joins words with dashes', () => assert.equal(slugify('Hello, World!'), 'hello-world'));
test('trims separators at both ends', () => assert.equal(slugify('  --Reeve--  '), 'reeve'));
test('an empty title is an empty slug', () => assert.equal(slugify(''), ''));
`;

function note(line) {
  mkdirSync('notes', { recursive: true });
  appendFileSync(`notes/${taskId}.md`, `- ${line}\n`);
}

const roles = {
  analysis() {
    say(`reading the repository for: ${values.p}`);
    mkdirSync('plans', { recursive: true });
    writeFileSync(`plans/${taskId}.md`, `# Plan\n\n${values.p}\n\n- add src/slugify.mjs\n- export slugify(text)\n`);
    return { plan: `plans/${taskId}.md`, commit: commitAll(`analysis: plan for "${input.issue ?? values.p}"`) };
  },

  develop() {
    if (attempt <= (input.rateLimited ?? 1)) {
      say('API Error: 429 Too Many Requests: rate limit exceeded for this organization');
      say('retry-after: 1');
      process.exit(1);
    }
    mkdirSync('src', { recursive: true });
    writeFileSync('src/slugify.mjs', SOURCE);
    if (feedback) {
      // Whatever the feedback says (a reviewer's or a person's), this agent answers it with tests.
      say(`addressing feedback from ${feedback.from}: ${feedback.reason}`);
      mkdirSync('test', { recursive: true });
      writeFileSync(testFile, TESTS);
      note(`${feedback.from} said "${feedback.reason}": added ${testFile}`);
    } else {
      note('wrote src/slugify.mjs');
    }
    const commit = commitAll(feedback ? `develop: address "${feedback.reason}"` : 'develop: add slugify');
    return { commit, addressed: feedback?.reason ?? null };
  },

  review() {
    const changed = changedOnBranch();
    say(`reviewing ${changed.length} changed files: ${changed.join(', ')}`);
    if (!changed.some((f) => f.startsWith('test/'))) return { verdict: 'REQUEST_CHANGES', comments: 'the branch adds no tests: cover slugify' };
    if (input.strictReview) return { verdict: 'REQUEST_CHANGES', comments: 'still not convinced: more edge cases' };
    return { verdict: 'APPROVE', comments: 'tests cover the edge cases' };
  },

  // The compensation of `develop`: the task failed or was cancelled after the work was done. The
  // workspace step's own compensation deletes the branch next, so the work is kept under a tag.
  abandon() {
    const tag = `abandoned/${taskId}`;
    git(['tag', '--force', tag, 'HEAD']);
    say(`kept the work of ${git(['rev-parse', '--abbrev-ref', 'HEAD'])} as tag ${tag}`);
    return { tag };
  },
};

const role = roles[values.role ?? ''];
if (!role) {
  say(`fake-coder: unknown --role ${values.role}; expected one of ${Object.keys(roles).join(', ')}`);
  process.exit(2);
}
result(role());
