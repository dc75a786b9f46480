import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, project, reeve, reeveBin, startReeve } from '../support/cli.ts';
import { stopNodes, until } from '../support/cluster.ts';
import { fixtureAgent } from '../support/test-node.ts';

/**
 * Human steps from the operator's side: the real `reeve` binary against a real `reeve start`
 * process on one embedded store. `submit --wait` narrates on stderr and says how to decide;
 * `reeve reject --goto` and `reeve approve --input` reach the steps; `reeve show` says what
 * can be done next.
 */
const sees = { module: fixtureAgent('sees-decisions.ts') };
const agents = {
  decided: {
    steps: [
      { name: 'prep', run: { module: fixtureAgent('reports-progress.ts') } },
      { name: 'build', run: { command: ['node', '-e', 'console.log("building"); console.log(JSON.stringify({ built: true }))'] } },
      { name: 'draft', run: sees },
      { name: 'ask', run: sees },
      { name: 'publish', run: sees },
    ],
  },
  echo: { module: fixtureAgent('echo.ts') },
};

/** `reeve ARGS` as a process the test watches while it runs. */
function running(dir: string, args: string[]) {
  const child = spawn(process.execPath, [reeveBin, ...args], { cwd: dir, env: cleanEnv() });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const stderrHas = (text: string, times = 1, timeoutMs = 30_000) =>
    until(() => out.stderr.split(text).length - 1, (n) => n >= times, timeoutMs, () => `stderr lacks ${times}× ${JSON.stringify(text)}:\n${out.stderr}`);
  return { child, out, exited, stderrHas };
}

/** The command `submit --wait` printed for `verb`, without its [optional] parts, as argv after `reeve`. */
function printed(stderr: string, verb: 'approve' | 'reject'): string[] {
  const line = stderr.split('\n').findLast((l) => l.trim().startsWith(`reeve ${verb} `))!;
  return line.trim().replace(/\s*\[[^\]]*\]/g, '').replace(/\s+\(steps:.*$/, '').split(/\s+/).slice(1);
}

describe('human steps with the reeve CLI', () => {
  let p: { dir: string; remove(): void };
  let node: ReturnType<typeof startReeve>;
  beforeAll(async () => {
    p = project({ node: { pollIntervalMs: 50 }, agents });
    node = startReeve(p.dir);
    // Up before the first test, so its stderr is about the task, not about a node still starting.
    await until(async () => JSON.parse((await reeve(p.dir, ['status', '--json'])).stdout).nodes.some((n: { state: string }) => n.state === 'up'), Boolean, 30_000, () => node.stderrText());
  }, 40_000);
  afterAll(async () => {
    await stopNodes([node]);
    p.remove();
  });

  it('submit --wait narrates on stderr and prints the commands to decide; a rejection sends the task back and an approval’s input reaches the next step', async () => {
    const wait = running(p.dir, ['submit', 'decided', '--id', 'w1', '--input', '{"ms":1500}', '--wait']);
    try {
      await wait.stderrHas('decide with:');
      expect(wait.out.stderr).toMatch(/^\d\d:\d\d:\d\d {2}new → queued {2}submitted$/m);
      expect(wait.out.stderr).toMatch(/queued → running {2}claimed by /);
      expect(wait.out.stderr).toMatch(/progress \(step prep\): \{"pct":\d+\}/);
      expect(wait.out.stderr).toMatch(/running → waiting {2}step ask done; waiting for approval/);
      expect(wait.out.stderr).toContain('task w1 is waiting for a person (step ask); decide with:\n  reeve approve w1 [--input JSON|@file] [--reason TEXT]\n  reeve reject w1 --reason TEXT [--goto STEP]   (steps: prep, build, draft, ask, publish)\n');

      const misuse = await reeve(p.dir, ['reject', 'w1', '--reason', 'x', '--goto', 'deploy']);
      expect(misuse.code).toBe(2);
      expect(misuse.stderr).toContain('"deploy" is not a step of kind decided; its steps: prep, build, draft, ask, publish');

      const rejected = await reeve(p.dir, [...printed(wait.out.stderr, 'reject'), '--reason', 'add a summary', '--goto', 'draft', '--by', 'ana']);
      expect(rejected).toMatchObject({ code: 0, stdout: expect.stringMatching(/^rejected w1: now queued — rejected by ana: "add a summary" → draft \(visit 2 of 3\)/) });
      await wait.stderrHas('decide with:', 2);

      writeFileSync(join(p.dir, 'approval.json'), JSON.stringify({ channel: 'beta' }));
      const approved = await reeve(p.dir, [...printed(wait.out.stderr, 'approve'), '--input', '@approval.json', '--reason', 'good now', '--by', 'ana', '--json']);
      expect(approved.code).toBe(0);
      expect(JSON.parse(approved.stdout)).toEqual({ id: 'w1', state: 'queued', step: 'publish' });

      expect(await wait.exited).toBe(0);
      expect(wait.out.stdout).toMatch(/^state {6}succeeded/m);
      expect(wait.out.stdout).toMatch(/^ {2}draft +visits 2 {2}output \{"step":"draft"/m);
      const record = JSON.parse((await reeve(p.dir, ['show', 'w1', '--json'])).stdout);
      expect(record.result).toEqual({ step: 'publish', approval: { input: { channel: 'beta' }, reason: 'good now', by: 'ana', at: expect.any(Number) }, feedback: null });
      expect(record.steps.find((s: { name: string }) => s.name === 'draft')).toEqual({
        name: 'draft',
        visits: 2,
        output: { step: 'draft', approval: null, feedback: { reason: 'add a summary', from: 'ask' } },
      });
    } finally {
      wait.child.kill();
    }
  }, 90_000);

  it('show prints progress, step outputs, the run-log path and the commands the state allows', async () => {
    await reeve(p.dir, ['submit', 'decided', '--id', 's1', '--input', '{"ms":100}']);
    await until(async () => JSON.parse((await reeve(p.dir, ['show', 's1', '--json'])).stdout).state, (s) => s === 'waiting', 30_000, (s) => `s1 is ${s}`);
    const shown = await reeve(p.dir, ['show', 's1']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^progress {3}\{"pct":\d+\}/m);
    expect(shown.stdout).toMatch(new RegExp(`^run log {4}${join(p.dir, '.reeve', 'logs', 's1.').replace(/[.]/g, '\\.')}[0-9a-f]+\\.log$`, 'm'));
    expect(shown.stdout).toMatch(/^ {2}build +visits 1 {2}output \{"built":true\}$/m);
    expect(shown.stdout).toContain('next\n  reeve approve s1 [--input JSON|@file] [--reason TEXT]\n  reeve reject s1 --reason TEXT [--goto STEP]');
    await reeve(p.dir, ['reject', 's1', '--reason', 'not now']);
    await until(async () => JSON.parse((await reeve(p.dir, ['show', 's1', '--json'])).stdout).state, (s) => s === 'failed', 30_000, (s) => `s1 is ${s}`);
    expect((await reeve(p.dir, ['show', 's1'])).stdout).toContain('next\n  reeve retry s1 [--reason TEXT]');
  }, 60_000);

  it('submit --wait says within seconds that no live node runs the kind, and keeps waiting until one does', async () => {
    const idle = project({ node: { pollIntervalMs: 50 }, agents });
    const wait = running(idle.dir, ['submit', 'echo', '--id', 'n1', '--wait']);
    let late: ReturnType<typeof startReeve> | undefined;
    try {
      await wait.stderrHas('no live node runs kind echo', 1, 15_000);
      expect(wait.child.exitCode).toBeNull();
      late = startReeve(idle.dir);
      expect(await wait.exited).toBe(0);
      expect(wait.out.stdout).toMatch(/^state {6}succeeded/m);
    } finally {
      wait.child.kill();
      if (late) await stopNodes([late]);
      idle.remove();
    }
  }, 60_000);
});
