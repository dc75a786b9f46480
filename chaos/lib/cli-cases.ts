import type { Rng } from './rng.ts';

/** A CLI call; `field` set: it must exit 2 with one stderr line naming that field. */
export interface CliCase {
  args: string[];
  env?: Record<string, string>;
  field?: RegExp;
  /** Why it is wrong, for the report. */
  label: string;
}

const deep = (n: number) => `${'['.repeat(n)}1${']'.repeat(n)}`;
const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const f = (s: string) => new RegExp(escape(s));
/** An option's error names `--breaker-key` or the field it sets (`breakerKey`). */
const opt = (flag: string, field: string) => new RegExp(`${escape(flag)}|\\b${escape(field)}\\b`);

/** Argument vectors that are wrong in one named place. */
export const targetedCli: CliCase[] = [
  { args: ['tasks', '--kind', ''], field: opt('--kind', 'kind'), label: 'empty kind' },
  { args: ['tasks', '--kind', 'a b'], field: opt('--kind', 'kind'), label: 'kind with a space' },
  { args: ['tasks', '--kind', 'k'.repeat(65)], field: opt('--kind', 'kind'), label: '65-character kind' },
  ...['0', '-1', '1.5', 'x', '', '1e3x'].map((v) => ({ args: ['tasks', '--limit', v], field: opt('--limit', 'limit'), label: `--limit ${JSON.stringify(v)}` })),
  { args: ['tasks', '--state', 'bogus'], field: opt('--state', 'state'), label: 'unknown state' },
  { args: ['show', 'bad id!'], field: /\bid\b/, label: 'bad task id' },
  { args: ['show'], field: /\bid\b/, label: 'missing id' },
  { args: ['submit', 'echo', '--input', '{'], field: opt('--input', 'input'), label: 'input not JSON' },
  { args: ['submit', 'echo', '--input', '@/nonexistent/input.json'], field: opt('--input', 'input'), label: 'input file missing' },
  { args: ['submit', 'echo', '--input', deep(600)], field: opt('--input', 'input'), label: 'input 600 levels deep' },
  { args: ['submit', 'echo', '--input', deep(10_000)], field: opt('--input', 'input'), label: 'input 10,000 levels deep' },
  { args: ['submit', 'echo', '--priority', 'x'], field: opt('--priority', 'priority'), label: 'priority not a number' },
  { args: ['submit', 'echo', '--priority', '1.5'], field: opt('--priority', 'priority'), label: 'priority not an integer' },
  { args: ['submit', 'echo', '--timeout-ms', '0'], field: opt('--timeout-ms', 'timeoutMs'), label: 'timeout 0' },
  { args: ['submit', 'echo', '--id', 'a b'], field: opt('--id', 'id'), label: 'id with a space' },
  { args: ['submit', 'echo', '--breaker-key', 'a b'], field: opt('--breaker-key', 'breakerKey'), label: 'breaker key with a space' },
  { args: ['submit', 'no such kind'], field: /kind/, label: 'bad kind name' },
  { args: ['submit', 'unknown-kind'], field: /kind/, label: 'unknown kind' },
  { args: ['purge'], field: opt('--older-than', 'older-than'), label: 'purge without --older-than' },
  { args: ['purge', '--older-than', 'soon'], field: opt('--older-than', 'older-than'), label: 'bad duration' },
  { args: ['drain', '--deadline-ms', '-3'], field: opt('--deadline-ms', 'deadlineMs'), label: 'negative deadline' },
  { args: ['frobnicate'], field: /frobnicate/, label: 'unknown command' },
  { args: ['tasks', '--nope'], field: f('--nope'), label: 'unknown option' },
  { args: ['--config', '/nonexistent/reeve.config.json', 'status'], field: /config/, label: 'config file missing' },
  { args: ['status'], env: { REEVE_NODE__CONCURRENCY: 'lots' }, field: f('node.concurrency'), label: 'env override not a number' },
  { args: ['status'], env: { REEVE_STORE__TYPE: 'mysql' }, field: f('store.type'), label: 'env override bad store type' },
];

const COMMANDS = ['submit', 'status', 'tasks', 'show', 'cancel', 'retry', 'approve', 'drain', 'reap', 'purge'];
const OPTIONS = ['--json', '--limit', '--state', '--kind', '--input', '--id', '--priority', '--timeout-ms', '--reason', '--goto', '--older-than', '--dry-run', '--deadline-ms', '--breaker-key', '--exact', '--by', '--reject', '-i', '--', '-x'];
const VALUES = ['', '0', '-1', '1', '99999999999999999999', 'NaN', 'echo', 'a b', '{}', '[]', '{"a":', 'null', '@', '@/dev/null', '30d', '-5m', 'running', 'succeeded', 'x'.repeat(300), '\u0000', 'ü', '--json', '../../etc/passwd'];

/** A random vector: a command (or garbage), options with random values. Only the exit code and the shape of the error are checked. */
export function randomCli(r: Rng): CliCase {
  const args: string[] = [r.chance(0.9) ? r.pick(COMMANDS) : r.pick(VALUES)];
  for (let i = r.int(0, 2); i > 0; i--) args.push(r.pick(VALUES));
  for (let i = r.int(0, 3); i > 0; i--) {
    args.push(r.pick(OPTIONS));
    if (r.chance(0.7)) args.push(r.pick(VALUES));
  }
  return { args: args.map((a) => a.replaceAll(String.fromCharCode(0), '')), label: 'random' };
}
