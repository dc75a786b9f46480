import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { killRunTree } from '../../src/pool/kill-tree.ts';
import { isAlive, listPids, processesIn, readProcStat, type ProcStat } from '../../src/pool/proc.ts';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/procs/${name}`, import.meta.url));
const hasSetsid = spawnSync('setsid', ['--version'], { stdio: 'ignore' }).status === 0;
if (!hasSetsid) console.warn('kill-tree: skipping the escaped-grandchild case: setsid(1) from util-linux is not on PATH');

interface Run {
  pid: number;
  /** Every process ever seen in the run, by pid, with its start time (escapees included). */
  seen: Map<number, number>;
  done: Promise<unknown>;
}

const runs: Run[] = [];
/** Processes a test keeps alive on purpose and must clean up; afterEach kills them if it did not. */
const extras = new Map<number, number>();

/** Starts a fixture in its own process group and session (Node's `detached` calls setsid()). */
function start(name: string, args: string[] = [fixture(name)]): Run {
  // stdio 'ignore': the promise would not settle while a grandchild held a stdout pipe.
  const child = execa('sh', args, { detached: true, stdio: 'ignore', reject: false });
  if (child.pid === undefined) throw new Error(`could not spawn ${name}`);
  const run: Run = { pid: child.pid, seen: new Map(), done: child.catch(() => undefined) };
  runs.push(run);
  return run;
}

function treeOf(run: Run): ProcStat[] {
  const found = processesIn({ pgid: run.pid, sid: run.pid, ancestors: [run.pid] });
  for (const stat of found) run.seen.set(stat.pid, stat.starttime);
  return found;
}

/** Everything of the run still alive: the /proc walk plus escapees remembered by identity. */
function aliveIn(run: Run): number[] {
  const alive = new Set(treeOf(run).map((s) => s.pid));
  for (const [pid, starttime] of run.seen) if (isAlive(pid, starttime)) alive.add(pid);
  return [...alive].sort((a, b) => a - b);
}

/** Polls /proc until the run's tree satisfies `ready` (there is no event for "has forked"). */
async function waitForTree(run: Run, ready: (tree: ProcStat[]) => boolean): Promise<ProcStat[]> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const tree = treeOf(run);
    if (ready(tree)) return tree;
    if (Date.now() > deadline) throw new Error(`run ${run.pid} never got ready: ${JSON.stringify(tree)}`);
    await sleep(10);
  }
}

const sleeps = (tree: ProcStat[]) => tree.filter((s) => s.comm === 'sleep');

function killQuietly(pid: number, starttime: number): void {
  try {
    if (isAlive(pid, starttime)) process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

afterEach(async () => {
  const leftovers: number[] = [];
  for (const run of runs.splice(0)) {
    const alive = aliveIn(run);
    leftovers.push(...alive.filter((pid) => !extras.has(pid)));
    for (const pid of alive) killQuietly(pid, run.seen.get(pid)!);
    await run.done;
  }
  for (const [pid, starttime] of extras) {
    if (isAlive(pid, starttime)) leftovers.push(pid);
    killQuietly(pid, starttime);
  }
  extras.clear();
  expect(leftovers, 'processes left behind by the test').toEqual([]);
});

/** The run's root, by pid and start time, as the runner knows it. */
const rootOf = (run: Run) => (run.seen.has(run.pid) ? [{ pid: run.pid, starttime: run.seen.get(run.pid)! }] : []);
const kill = (run: Run, graceMs: number, protectedPids: number[] = []) =>
  killRunTree({ pgid: run.pid, sid: run.pid, members: rootOf(run), graceMs, protectedPids, pollMs: 20 });

describe('killRunTree on real process trees', () => {
  it('stops a child and its sleeping grandchild with SIGTERM alone', async () => {
    const run = start('forks-grandchild.sh');
    await waitForTree(run, (t) => t.length === 3 && sleeps(t).length === 1);

    const report = await kill(run, 5_000);

    expect(report).toMatchObject({ sigterm: true, sigkill: false, survivors: [] });
    expect(aliveIn(run)).toEqual([]);
  });

  it('sends SIGKILL after the grace when a child ignores SIGTERM, leaving nothing alive', async () => {
    const run = start('child-ignores-term.sh');
    await waitForTree(run, (t) => t.length === 3 && sleeps(t).length === 1);

    const report = await kill(run, 300);

    expect(report).toMatchObject({ sigterm: true, sigkill: true, survivors: [] });
    expect(report.durationMs).toBeGreaterThanOrEqual(300);
    expect(aliveIn(run)).toEqual([]);
  });

  it('does not send SIGKILL to a run that exits during the grace', async () => {
    const run = start('exits-after-term.sh');
    await waitForTree(run, (t) => t.length === 2 && sleeps(t).length === 1);

    const report = await kill(run, 5_000);

    expect(report).toMatchObject({ sigterm: true, sigkill: false, survivors: [] });
    expect(report.durationMs).toBeGreaterThanOrEqual(90);
    expect(report.durationMs).toBeLessThan(5_000);
    expect(aliveIn(run)).toEqual([]);
  });

  it.skipIf(!hasSetsid)('finds and kills a grandchild that escaped the group and session (needs setsid(1) from util-linux; skipped without it)', async () => {
    const run = start('grandchild-escapes.sh');
    const tree = await waitForTree(run, (t) => sleeps(t).some((s) => s.pgrp !== run.pid && s.session !== run.pid));
    const escapee = sleeps(tree)[0]!;

    const report = await kill(run, 2_000);

    expect(report.survivors).toEqual([{ pid: escapee.pid, reason: 'escaped the process group' }]);
    expect(isAlive(escapee.pid, escapee.starttime)).toBe(false);
    expect(aliveIn(run)).toEqual([]);
  });

  it('never signals a protected pid inside the group, reports it, and stops the rest', async () => {
    const run = start('forks-grandchild.sh');
    const tree = await waitForTree(run, (t) => t.length === 3 && sleeps(t).length === 1);
    const kept = sleeps(tree)[0]!;
    extras.set(kept.pid, kept.starttime);

    const report = await kill(run, 2_000, [kept.pid]);

    expect(report.survivors).toEqual([{ pid: kept.pid, reason: 'protected' }]);
    expect(report.sigkill).toBe(false);
    expect(isAlive(kept.pid, kept.starttime)).toBe(true);
    expect(aliveIn(run)).toEqual([kept.pid]);
    process.kill(kept.pid, 'SIGKILL');
    // SIGKILL is delivered asynchronously: the process may still show as running for a moment.
    for (let i = 0; i < 100 && isAlive(kept.pid, kept.starttime); i++) await sleep(10);
    extras.delete(kept.pid);
  });

  it('refuses to signal its own process group and kills only the recorded root and its descendants', async () => {
    const own = readProcStat(process.pid)!;
    // Not detached: this child shares the test's process group, as a mis-recorded run would.
    const child = execa('sleep', ['300'], { stdio: 'ignore', reject: false });
    const run: Run = { pid: child.pid!, seen: new Map(), done: child.catch(() => undefined) };
    runs.push(run);
    const stat = readProcStat(run.pid)!;
    run.seen.set(stat.pid, stat.starttime);
    const warnings: string[] = [];

    const report = await killRunTree({
      pgid: own.pgrp, sid: own.session, members: [{ pid: run.pid, starttime: stat.starttime }],
      graceMs: 2_000, protectedPids: [], pollMs: 20, log: { warn: (_obj, msg) => warnings.push(msg) },
    });

    expect(report).toMatchObject({ sigterm: true, sigkill: false, survivors: [] });
    expect(warnings).toEqual(expect.arrayContaining([expect.stringMatching(/refusing to signal by pgid/)]));
    expect(isAlive(stat.pid, stat.starttime)).toBe(false);
  });

  it('treats a process that is already gone as nothing to do', async () => {
    const run = start('forks-grandchild.sh');
    await waitForTree(run, (t) => t.length === 3);
    for (const pid of aliveIn(run)) process.kill(pid, 'SIGKILL');
    await run.done;
    await waitForTree(run, (t) => t.length === 0);

    const report = await kill(run, 1_000);

    expect(report).toMatchObject({ sigterm: false, sigkill: false, survivors: [] });
  });
});

describe('process identity', () => {
  it('isAlive is false for a live pid whose start time does not match (pid reuse)', async () => {
    const run = start('forks-grandchild.sh');
    const root = (await waitForTree(run, (t) => t.length === 3)).find((s) => s.pid === run.pid)!;

    expect(isAlive(root.pid, root.starttime)).toBe(true);
    expect(isAlive(root.pid, root.starttime + 1)).toBe(false);
    expect(isAlive(root.pid)).toBe(true);

    await kill(run, 2_000);
  });

  it('isAlive is false for a zombie its parent never reaps and for a pid that does not exist', async () => {
    // `exec sleep` replaces the shell, so nobody waits for the first sleep: it stays a zombie.
    const run = start('zombie', ['-c', 'sleep 0 & exec sleep 300']);
    const findZombie = () => listPids().map(readProcStat).find((s) => s?.ppid === run.pid && s.state === 'Z');
    await waitForTree(run, () => findZombie() !== undefined);
    const zombie = findZombie()!;

    expect(isAlive(zombie.pid)).toBe(false);
    expect(isAlive(zombie.pid, zombie.starttime)).toBe(false);
    expect(processesIn({ ancestors: [run.pid] }).map((s) => s.pid)).toEqual([run.pid]);
    expect(isAlive(2 ** 22 + 1)).toBe(false);

    await kill(run, 2_000);
  });
});
