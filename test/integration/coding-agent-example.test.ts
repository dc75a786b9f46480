import { spawn } from 'node:child_process';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, reeve, reeveBin, startReeve } from '../support/cli.ts';
import { stopNodes, until } from '../support/cluster.ts';
import { tempDir } from '../support/temp-dir.ts';

/**
 * The tutorial of docs/pipelines.md, run as written against a copy of examples/coding-agent: the
 * real `reeve` binary, a real `reeve start`, the example's stand-in CLIs working in git worktrees
 * of a real repository, and its webhook receiver as a process of its own. If the example or a
 * step of the tutorial breaks, this fails.
 */
const EXAMPLE = fileURLToPath(new URL('../../examples/coding-agent/', import.meta.url));

/** A process the test watches while it runs: its output so far, and a wait for a text in it. */
function watched(cwd: string, argv: string[], env: Record<string, string> = {}) {
  const child = spawn(process.execPath, argv, { cwd, env: cleanEnv(env) });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const has = (stream: 'stdout' | 'stderr', text: string | RegExp, times = 1, timeoutMs = 30_000) =>
    until(
      () => (typeof text === 'string' ? out[stream].split(text).length - 1 : [...out[stream].matchAll(new RegExp(text, 'g'))].length),
      (n) => n >= times,
      timeoutMs,
      () => `${stream} lacks ${times}× ${String(text)}:\n${out[stream]}`,
    );
  return { child, out, exited, has };
}

const git = async (repo: string, ...args: string[]) => (await execa('git', ['-C', repo, ...args], { reject: false })).stdout;
/** Who decides: `--by` defaults to $USER, set here so the test does not depend on the host's. */
const AS_ANA = { USER: 'ana' };
const show = async (dir: string, id: string) => JSON.parse((await reeve(dir, ['show', id, '--json'])).stdout) as { state: string; step?: string; result?: unknown; history: Array<{ at: number; to: string; reason: string }>; steps: Array<{ name: string; visits: number; output?: Record<string, unknown> }>; compensations: Array<{ step: string; status: string }> };

/** POSTs `body` to the receiver with `signature`; resolves to the status code. */
function post(url: string, body: string, signature: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'x-reeve-signature': signature } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the coding-agent example, as docs/pipelines.md walks through it', () => {
  let dir: { path: string; remove(): void };
  let repo: string;
  let receiver: ReturnType<typeof watched>;
  let receiverUrl: string;
  let node: ReturnType<typeof startReeve>;

  beforeAll(async () => {
    dir = tempDir('reeve-coding-agent-');
    // A copy of the example as a clone has it (no demo repository, no node data yet).
    cpSync(EXAMPLE, dir.path, { recursive: true, filter: (src) => !/[/\\](demo-repo|\.reeve)$/.test(src) });
    const setup = await execa(process.execPath, ['setup-demo-repo.mjs'], { cwd: dir.path, env: cleanEnv(), extendEnv: false, reject: false });
    expect(setup.exitCode, setup.stderr).toBe(0);
    repo = join(dir.path, 'demo-repo');
    // The tutorial's receiver listens on 8787; here any free port, written into the copy's config.
    receiver = watched(dir.path, ['webhook-receiver.mjs'], { PORT: '0' });
    await receiver.has('stdout', 'listening on');
    receiverUrl = /listening on (http:\S+)/.exec(receiver.out.stdout)![1]!;
    const configFile = join(dir.path, 'reeve.config.json');
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as { notify: Array<{ webhook: { url: string } }> };
    expect(config.notify[0]!.webhook.url).toBe('http://127.0.0.1:8787/reeve');
    config.notify[0]!.webhook.url = receiverUrl;
    writeFileSync(configFile, JSON.stringify(config, null, 2));
    node = startReeve(dir.path);
    await until(async () => JSON.parse((await reeve(dir.path, ['status', '--json'])).stdout || '{}').nodes?.some((n: { state: string }) => n.state === 'up'), Boolean, 30_000, () => node.stderrText());
  }, 40_000);

  afterAll(async () => {
    if (node) await stopNodes([node]);
    receiver?.child.kill('SIGTERM');
    await receiver?.exited;
    dir?.remove();
  });

  it('runs analysis → develop (rate-limited once) → review (back to develop once) → test → approval → merge, rejected back to develop once, with signed notifications', async () => {
    // The node suggests a submit command whose input has what the kind's commands need.
    expect(node.stderrText()).toContain(`npx reeve submit coding --input '{"issue":"…"}' --wait`);
    const wait = watched(dir.path, [reeveBin, 'submit', 'coding', '--id', 'slugify-1', '--input', '{"issue":"Add a slugify helper"}', '--wait']);
    try {
      await wait.has('stderr', 'decide with:');
      // The provider's 429 is transient, and the retry waits its Retry-After (1 s) at least.
      expect(wait.out.stderr).toMatch(/running → backoff {2}step develop failed \(transient, 1 of 5\): .*fake-coder\.mjs exited with 1\nAPI Error: 429 Too Many Requests.*\nretry-after: 1; retry in (\d+) ms/);
      expect(Number(/retry in (\d+) ms/.exec(wait.out.stderr)![1])).toBeGreaterThanOrEqual(1000);
      expect(wait.out.stderr).toContain('gate review: fail — "the branch adds no tests: cover slugify" → develop (visit 2 of 3)');
      expect(wait.out.stderr).toContain('step review done; gate review: pass — "tests cover the edge cases"; next test');
      expect(wait.out.stderr).toContain('running → waiting  step test done; waiting for approval');
      let record = await show(dir.path, 'slugify-1');
      const backoff = record.history.find((h) => h.to === 'backoff')!;
      const reclaimed = record.history[record.history.indexOf(backoff) + 1]!;
      expect(reclaimed).toMatchObject({ to: 'running', reason: expect.stringMatching(/^claimed by /) });
      expect(reclaimed.at - backoff.at).toBeGreaterThanOrEqual(1000);
      await receiver.has('stdout', /task\.waiting {2}task slugify-1 \(coding\) waiting at step test {2}\[n_\S+, signature ok\]/);

      // A person sends it back to develop, which sees the reason as feedback (REEVE_FEEDBACK).
      const rejected = await reeve(dir.path, ['reject', 'slugify-1', '--reason', 'also handle empty titles', '--goto', 'develop'], AS_ANA);
      expect(rejected).toMatchObject({ code: 0, stdout: expect.stringContaining('rejected by ana: "also handle empty titles" → develop (visit 3 of 3)') });
      await wait.has('stderr', 'decide with:', 2);
      record = await show(dir.path, 'slugify-1');
      expect(record.steps.find((s) => s.name === 'develop')).toMatchObject({ visits: 3, output: { addressed: 'also handle empty titles' } });
      await receiver.has('stdout', /task\.waiting {2}task slugify-1 \(coding\) waiting at step test/, 2);

      // The approval's input reaches merge (REEVE_APPROVAL) as the merge message.
      const approved = await reeve(dir.path, ['approve', 'slugify-1', '--input', '{"message":"Add slugify (closes #1)"}', '--reason', 'LGTM'], AS_ANA);
      expect(approved).toMatchObject({ code: 0, stdout: expect.stringContaining('approved by ana: "LGTM" (with input); next merge') });
      expect(await wait.exited).toBe(0);
      expect(wait.out.stdout).toMatch(/^state {6}succeeded {2}step merge$/m);
      record = await show(dir.path, 'slugify-1');
      expect(record.result).toMatchObject({ merged: 'reeve/slugify-1', into: 'main', message: 'Add slugify (closes #1)' });

      expect((await git(repo, 'log', '-1', '--format=%B', 'main')).trim()).toBe('Add slugify (closes #1)\n\nApproved-by: ana (LGTM)');
      expect((await execa('git', ['-C', repo, 'merge-base', '--is-ancestor', 'reeve/slugify-1', 'main'], { reject: false })).exitCode).toBe(0);
      expect(await git(repo, 'log', '--format=%s', 'main')).toContain('develop: address "also handle empty titles"');
      expect(await git(repo, 'ls-tree', '-r', '--name-only', 'main')).toContain('test/slugify-slugify-1.test.mjs');
      await receiver.has('stdout', /task\.succeeded {2}task slugify-1 \(coding\) succeeded at step merge {2}\[n_\S+, signature ok\]/);
    } finally {
      wait.child.kill();
    }
  }, 60_000);

  it('waits for a person when the review keeps asking for changes past maxVisits; a rejection then compensates (work kept as a tag, branch deleted) and fails', async () => {
    await reeve(dir.path, ['submit', 'coding', '--id', 'strict-1', '--input', '{"issue":"Add a slugify helper","strictReview":true,"rateLimited":0}']);
    await until(() => show(dir.path, 'strict-1'), (r) => r.state === 'waiting', 30_000, (r) => JSON.stringify(r.history.at(-1)));
    let record = await show(dir.path, 'strict-1');
    expect(record.step).toBe('review');
    expect(record.history.at(-1)!.reason).toMatch(/gate review: fail — "still not convinced: more edge cases" → develop, which has had 3 of 3 visits \(maxVisits\); waiting for a person/);
    await receiver.has('stdout', /task\.waiting {2}task strict-1 \(coding\) waiting at step review {2}\[n_\S+, signature ok\]/);

    expect((await reeve(dir.path, ['reject', 'strict-1', '--reason', 'dropping it'], AS_ANA)).code).toBe(0);
    record = await until(() => show(dir.path, 'strict-1'), (r) => r.state === 'failed', 30_000, (r) => r.state);
    expect(record.compensations).toEqual([expect.objectContaining({ step: 'develop', status: 'done' }), expect.objectContaining({ step: 'workspace', status: 'done' })]);
    expect(await git(repo, 'tag', '--list', 'abandoned/*')).toBe('abandoned/strict-1');
    expect(await git(repo, 'log', '--format=%s', 'abandoned/strict-1')).toContain('develop: address "still not convinced: more edge cases"');
    expect(await git(repo, 'branch', '--list', 'reeve/strict-1')).toBe('');
    await receiver.has('stdout', /task\.failed {2}task strict-1 \(coding\) failed at step review: rejected by ana: dropping it {2}\[n_\S+, signature ok\]/);
  }, 60_000);

  it('has a receiver that refuses a request whose signature is wrong', async () => {
    expect(await post(receiverUrl, '{"id":"n_forged","event":"task.failed"}', 'sha256=0000')).toBe(401);
    await receiver.has('stdout', 'REJECTED  bad or missing X-Reeve-Signature');
    expect(receiver.out.stdout).not.toContain('n_forged');
  });
});
