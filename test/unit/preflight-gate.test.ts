import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KindPlan } from '../../src/actors/kind-plan.ts';
import { PreflightGate } from '../../src/actors/preflight-gate.ts';
import { silentLogger } from '../../src/ports/logger.ts';
import { CommandRunner } from '../../src/pool/command-runner.ts';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { tempDir } from '../support/temp-dir.ts';

const TTL_MS = 60_000;

/** A kind whose preflight is a real command that appends a line to `checks` each time it runs. */
function planFor(kind: string, checks: string): KindPlan {
  return {
    kind,
    breakerKey: kind,
    steps: [],
    killGraceMs: 1000,
    keepWorkspace: false,
    retryOn: [],
    breaker: { threshold: 1, pauseMs: 1000, maxPauseMs: 1000 },
    policy: {} as KindPlan['policy'],
    preflight: { handler: { type: 'command', command: ['sh', '-c', 'echo check >> "$0"', checks], stdin: 'none' }, timeoutMs: 10_000, ttlMs: TTL_MS },
  };
}

describe('PreflightGate', () => {
  let dir: ReturnType<typeof tempDir>;
  let store: ReturnType<typeof openSqliteTaskStore>;
  let runner: CommandRunner;
  let clock: FakeClock;
  let gate: PreflightGate;
  let checks: string;
  const runs = () => readFileSync(checks, 'utf8').split('\n').filter(Boolean).length;

  beforeEach(() => {
    dir = tempDir('reeve-preflight-');
    checks = join(dir.path, 'checks.log');
    store = openSqliteTaskStore({ path: join(dir.path, 'reeve.db') });
    clock = new FakeClock();
    runner = new CommandRunner({ clock, envAllowList: ['PATH'] });
    const plans = new Map([['prov', planFor('prov', checks)]]);
    gate = new PreflightGate({ runner, clock, log: silentLogger, store, plans: () => plans, workspace: join(dir.path, 'preflight') });
  });
  afterEach(async () => {
    await runner.close();
    await store.close();
    dir.remove();
  });

  it('checks once, keeps the result for its TTL, and checks again once the TTL is over', async () => {
    expect(gate.ready('prov')).toBe(false);
    await gate.tick();
    expect(runs()).toBe(1);
    expect(gate.ready('prov')).toBe(true);
    for (const step of [1, 10_000, 30_000, 19_998]) { // 59 999 ms in all
      clock.advance(step);
      await gate.tick();
    }
    expect(runs()).toBe(1); // TTL_MS - 1 after the check: still cached
    clock.advance(1);
    await gate.tick();
    expect(runs()).toBe(2);
    expect(await store.listPreflight()).toEqual([{ kind: 'prov', ok: true, reason: 'ok', checkedAt: clock.now() }]);
  });

  it('holds a probe until a check newer than the end of the breaker pause, within the TTL too', async () => {
    await gate.tick();
    const checkedAt = clock.now();
    // A pause that ended before the cached check: the probe may go on that result.
    expect(gate.readyForProbe('prov', checkedAt)).toBe(true);
    // The breaker's pause ended after it (well within the TTL): the probe waits for a fresh check.
    clock.advance(5_000);
    const pauseEnded = clock.now();
    expect(gate.readyForProbe('prov', pauseEnded)).toBe(false);
    expect(gate.ready('prov')).toBe(true); // ordinary claims still go on the cached result
    await gate.tick();
    expect(runs()).toBe(2);
    expect(gate.readyForProbe('prov', pauseEnded)).toBe(true);
    // Served: the next tick within the TTL checks nothing.
    clock.advance(1_000);
    await gate.tick();
    expect(runs()).toBe(2);
  });

  it('lets a kind without preflight probe at once', () => {
    expect(gate.readyForProbe('other', clock.now())).toBe(true);
  });
});
