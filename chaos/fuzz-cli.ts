import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Figures, Findings } from './lib/figures.ts';
import { randomCli, targetedCli, type CliCase } from './lib/cli-cases.ts';
import { configCase } from './lib/config-cases.ts';
import { fixture, runCli, type CliRun } from './lib/procs.ts';
import type { Rng } from './lib/rng.ts';

/** How long a `reeve start` with a broken config may run before it counts as having accepted it. */
const START_TIMEOUT_MS = 10_000;
const PARALLEL = 2;

/**
 * The error text of a failed call: with --json it is `{"error":{code,message}}` on stdout (the
 * contract: stdout carries exactly one JSON value, errors included), else stderr.
 */
function errorText(c: CliCase, run: CliRun): { lines: string[]; problem?: string } {
  if (c.args.includes('--json') && run.stdout.trim() !== '') {
    try {
      const parsed = JSON.parse(run.stdout) as { error?: { code?: string; message?: string } };
      if (typeof parsed.error?.message === 'string') return { lines: parsed.error.message.split('\n').filter((l) => l.trim() !== '') };
      return { lines: [], problem: `--json printed no {"error":{…}} on exit ${run.code}` };
    } catch {
      return { lines: [], problem: `--json printed ${run.stdout.length} bytes that are not one JSON value on exit ${run.code}` };
    }
  }
  // commander's "(run reeve --help for usage)" is a hint, not part of the error.
  return { lines: run.stderr.trim().split('\n').filter((l) => l.trim() !== '' && !/^\(run reeve --help/.test(l)) };
}

/** Errors longer than one line (a header plus the problem, say): counted, not an invariant. */
let multiLine = 0;

/** What is wrong with one CLI result, or undefined. */
function judge(c: CliCase, run: CliRun, expectField: boolean): string | undefined {
  const { lines, problem } = run.code === 0 ? { lines: [] } : errorText(c, run);
  if (run.timedOut) return `did not finish (killed after the timeout)`;
  if (expectField) {
    if (run.code !== 2) return `exit ${run.code}, expected 2 (stdout ${JSON.stringify(run.stdout.slice(0, 80))}, stderr ${JSON.stringify(lines[0]?.slice(0, 160))})`;
  } else if (![0, 2, 3, 4].includes(run.code as number)) return `exit ${run.code} (stderr ${JSON.stringify(lines.slice(0, 2).join(' | ').slice(0, 200))})`;
  if (run.code === 0) {
    if (c.args.includes('--json')) {
      try {
        JSON.parse(run.stdout);
      } catch {
        return `--json printed ${run.stdout.length} bytes that are not one JSON value`;
      }
    }
    return undefined;
  }
  if (problem !== undefined) return problem;
  if (/\n\s+at |\bat .*\.ts:\d+/.test(run.stderr)) return 'a stack trace on stderr';
  if (lines.length === 0) return `exit ${run.code} with no error message`;
  if (lines.length > 1) multiLine++;
  if (c.field && !lines.some((l) => c.field!.test(l))) return `the error does not name ${c.field.source}: ${JSON.stringify(lines.join(' | ').slice(0, 200))}`;
  return undefined;
}

async function pool<T>(items: T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

/**
 * (c) The CLI (real `reeve` processes, an embedded project): argument vectors that are wrong in
 * a named place, random vectors, and broken config files under `status`, `tasks` and `start`.
 * Every error must exit 2/3/4 with one stderr line (naming the field, where one is known), and
 * never 5 or a stack trace; a broken config must stop `start` at once.
 */
export async function fuzzCli(dir: string, size: { cliVectors: number; configs: number }, r: Rng, findings: Findings): Promise<Partial<Figures>> {
  const exitCodes: Record<string, number> = {};
  let runs = 0;
  multiLine = 0;
  let violations = 0;
  const report = (what: string, run: CliRun, problem: string | undefined) => {
    runs++;
    const key = run.timedOut ? 'timeout' : String(run.code);
    exitCodes[key] = (exitCodes[key] ?? 0) + 1;
    if (problem === undefined) return;
    violations++;
    findings.add(`${what}: ${problem}`);
  };
  const project = join(dir, 'cli');
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, 'reeve.config.json'), JSON.stringify({ node: { logLevel: 'warn' }, agents: { echo: { module: fixture('works.ts') } } }));
  // Every targeted vector when there is room, else a random sample of them (the quick size).
  const targeted = size.cliVectors >= targetedCli.length ? targetedCli : [...targetedCli].sort(() => r.next() - 0.5).slice(0, size.cliVectors);
  const cases = [...targeted, ...Array.from({ length: Math.max(0, size.cliVectors - targetedCli.length) }, () => randomCli(r))];
  await pool(cases, async (c) => {
    const run = await runCli(project, c.args, { timeoutMs: 30_000, ...(c.env ? { env: c.env } : {}) });
    report(`reeve ${c.args.map((a) => (a.length > 40 ? `${a.slice(0, 20)}…(${a.length})` : JSON.stringify(a))).join(' ')} [${c.label}]`, run, judge(c, run, c.field !== undefined));
  });
  const configs = Array.from({ length: size.configs }, (_, i) => ({ i, c: configCase(r), command: (['status', 'tasks', 'start'] as const)[i % 3]! }));
  await pool(configs, async ({ i, c, command }) => {
    const cfgDir = join(dir, `config-${i}`);
    mkdirSync(cfgDir, { recursive: true });
    writeFileSync(join(cfgDir, 'reeve.config.json'), c.text);
    const args = command === 'start' ? ['start'] : [command, '--json'];
    const run = await runCli(cfgDir, args, { timeoutMs: command === 'start' ? START_TIMEOUT_MS : 30_000 });
    const problem = run.timedOut && command === 'start' ? 'reeve start accepted the broken config (still running after 10 s)' : judge({ args, field: c.field, label: c.label }, run, true);
    report(`config [${c.label}] under reeve ${command}`, run, problem);
  });
  return { cliRuns: runs, cliViolations: violations, multiLineErrors: multiLine, exitCodes };
}
