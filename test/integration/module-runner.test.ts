import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunRequest } from '../../src/ports/runner.ts';
import { ModuleRunner } from '../../src/pool/module-runner.ts';
import { systemClock } from '../../src/platform/system-clock.ts';
import { recordingLogger } from '../support/recording-logger.ts';

const agent = (name: string) => fileURLToPath(new URL(`../fixtures/agents/${name}`, import.meta.url));

describe('module agents on worker threads', () => {
  let runner: ModuleRunner;
  beforeAll(() => {
    runner = new ModuleRunner({ maxThreads: 2, clock: systemClock });
  });
  afterAll(() => runner.close());

  function request(file: string, overrides: Partial<RunRequest> = {}): RunRequest & { beats: unknown[] } {
    const beats: unknown[] = [];
    return {
      taskId: 't1', kind: 'k', step: 'run', attempt: 1, phase: 'run',
      handler: { type: 'module', file: agent(file), exportName: 'default' },
      input: { hello: 'world' }, steps: {}, workspace: '/tmp', signal: new AbortController().signal,
      killGraceMs: 200, retryOn: [], onHeartbeat: (d) => beats.push(d), log: recordingLogger(), beats,
      ...overrides,
    };
  }

  it('runs a TypeScript agent without a build step and passes ctx through', async () => {
    const log = recordingLogger();
    const req = request('echo.ts', { log, attempt: 3, step: 'develop' });
    const outcome = await runner.run(req);
    expect(outcome).toEqual({ ok: true, output: { echo: { hello: 'world' }, step: 'develop', attempt: 3 } });
    expect(req.beats).toEqual([{ pct: 50 }]);
    expect(log.lines).toContainEqual(expect.objectContaining({ level: 'info', msg: 'echoing', fields: expect.objectContaining({ seen: { hello: 'world' } }) }));
  });

  it('keeps the class and Retry-After of a TransientError across the thread boundary', async () => {
    const outcome = await runner.run(request('throws-transient.ts'));
    expect(outcome).toEqual({ ok: false, failure: { class: 'transient', message: 'provider overloaded', retryAfterMs: 1234 } });
  });

  it('classifies a plain error by its message', async () => {
    const outcome = await runner.run(request('throws-plain.mjs'));
    expect(outcome).toMatchObject({ ok: false, failure: { class: 'transient', retryAfterMs: 7000 } });
  });

  it('records process.exit in an agent as a permanent failure and keeps the pool working', async () => {
    const outcome = await runner.run(request('exits.ts'));
    expect(outcome).toMatchObject({ ok: false, failure: { class: 'permanent', code: 'AGENT_EXITED' } });
    expect(await runner.run(request('echo.ts'))).toMatchObject({ ok: true });
  });

  it('times out a CPU-bound hang by destroying its thread, and other runs go on', async () => {
    const [hung, fine] = await Promise.all([runner.run(request('spins.ts', { timeoutMs: 300, killGraceMs: 100 })), runner.run(request('echo.ts'))]);
    expect(hung).toMatchObject({ ok: false, failure: { class: 'timeout', code: 'RUN_TIMED_OUT' } });
    expect(fine).toMatchObject({ ok: true });
    expect(await runner.run(request('echo.ts'))).toMatchObject({ ok: true });
  });

  it('runs tasksPerThread async agents at once on one thread, not one after another', async () => {
    const shared = new ModuleRunner({ maxThreads: 1, tasksPerThread: 4, clock: systemClock });
    try {
      const outcomes = await Promise.all(Array.from({ length: 4 }, () => shared.run(request('meets.ts', { input: { of: 4 } }))));
      expect(outcomes).toEqual(Array.from({ length: 4 }, () => ({ ok: true, output: { met: 4 } })));
      expect(shared.threads).toBe(1);
    } finally {
      await shared.close();
    }
  });

  it('ends the thread of a run that ignores its stop; its threadmate fails as transient THREAD_RECYCLED', async () => {
    const shared = new ModuleRunner({ maxThreads: 1, tasksPerThread: 2, clock: systemClock });
    try {
      // Warm: a fresh thread loads tsx first, and a run stopped before it starts never runs.
      expect(await shared.run(request('echo.ts'))).toMatchObject({ ok: true });
      const hung = shared.run(request('ignores-abort.ts', { timeoutMs: 300, killGraceMs: 100 }));
      const mate = shared.run(request('sleepy.ts', { input: { ms: 5_000 } }));
      expect(await hung).toMatchObject({ ok: false, failure: { class: 'timeout', code: 'RUN_TIMED_OUT' } });
      expect(await mate).toMatchObject({ ok: false, failure: { class: 'transient', code: 'THREAD_RECYCLED' } });
      expect(await shared.run(request('echo.ts'))).toMatchObject({ ok: true });
    } finally {
      await shared.close();
    }
  });

  it('fails only the run that calls process.exit, not a run sharing its thread', async () => {
    const shared = new ModuleRunner({ maxThreads: 1, tasksPerThread: 2, clock: systemClock });
    try {
      const [mate, exits] = await Promise.all([shared.run(request('sleepy.ts', { input: { ms: 300 } })), shared.run(request('exits.ts'))]);
      expect(exits).toMatchObject({ ok: false, failure: { class: 'permanent', code: 'AGENT_EXITED' } });
      expect(mate).toMatchObject({ ok: true, output: { slept: 300 } });
    } finally {
      await shared.close();
    }
  });

  it('lets async work an agent left behind go on while its thread is idle', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'reeve-timer-'));
    const file = join(dir, 'written');
    try {
      expect(await runner.run(request('leaves-timer.ts', { input: { file } }))).toEqual({ ok: true, output: 'returned' });
      for (let i = 0; i < 100 && !existsSync(file); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(existsSync(file)).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('survives a thread error outside any run (the pool replaces the thread) and goes on', async () => {
    const log = recordingLogger();
    const own = new ModuleRunner({ maxThreads: 1, clock: systemClock, log });
    try {
      expect(await own.run(request('throws-later.ts'))).toEqual({ ok: true, output: 'returned' });
      for (let i = 0; i < 100 && !log.lines.some((l) => (l.msg ?? '').includes('outside any run')); i++) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(log.lines).toContainEqual(expect.objectContaining({ level: 'warn', msg: expect.stringContaining('outside any run') }));
      expect(await own.run(request('echo.ts'))).toMatchObject({ ok: true });
    } finally {
      await own.close();
    }
  });

  it('retries, as transient THREAD_CRASHED, a run whose shared thread another agent crashed', async () => {
    const shared = new ModuleRunner({ maxThreads: 1, tasksPerThread: 2, clock: systemClock });
    try {
      const mate = shared.run(request('sleepy.ts', { input: { ms: 2_000 } }));
      expect(await shared.run(request('throws-later.ts', { input: { ms: 100 } }))).toEqual({ ok: true, output: 'returned' });
      expect(await mate).toMatchObject({ ok: false, failure: { class: 'transient', code: 'THREAD_CRASHED' } });
    } finally {
      await shared.close();
    }
  });

  it('answers a stop of a run stuck behind another run’s endless loop on its thread', async () => {
    const shared = new ModuleRunner({ maxThreads: 1, tasksPerThread: 2, clock: systemClock });
    try {
      // No timeout: nothing ends the spinning run; the pool puts the second run on its thread.
      void shared.run(request('spins.ts', { killGraceMs: 100 }));
      const controller = new AbortController();
      const queued = shared.run(request('echo.ts', { signal: controller.signal, killGraceMs: 100 }));
      setTimeout(() => controller.abort('cancel'), 100);
      expect(await queued).toMatchObject({ ok: false, failure: { class: 'cancelled' }, aborted: 'cancel' });
    } finally {
      await shared.close();
    }
  });

  it('fires ctx.signal on abort and reports the run as stopped for that reason', async () => {
    const controller = new AbortController();
    const running = runner.run(request('waits-for-abort.ts', { signal: controller.signal }));
    setTimeout(() => controller.abort('cancel'), 100);
    expect(await running).toMatchObject({ ok: false, failure: { class: 'cancelled' }, aborted: 'cancel' });
  });

  it('treats an agent that stops heartbeating as hung', async () => {
    const outcome = await runner.run(request('silent.ts', { heartbeatTimeoutMs: 200 }));
    expect(outcome).toMatchObject({ ok: false, failure: { class: 'timeout', message: expect.stringMatching(/no heartbeat/) } });
  });

  it('fails a result that is not JSON permanently with a clear message', async () => {
    const outcome = await runner.run(request('returns-map.ts'));
    expect(outcome).toMatchObject({ ok: false, failure: { class: 'permanent', code: 'RESULT_NOT_JSON', message: expect.stringMatching(/not JSON-serialisable/) } });
  });

  it('passes routing decisions made through ctx', async () => {
    expect(await runner.run(request('routes.ts', { input: { goto: 'develop' } }))).toEqual({ ok: true, output: 'routed', route: { goto: 'develop' } });
    expect(await runner.run(request('routes.ts', { input: {} }))).toEqual({ ok: true, output: 'routed', route: { wait: 'approval' } });
  });

  it('names the file when the module has no such export', async () => {
    const outcome = await runner.run(request('echo.ts', { handler: { type: 'module', file: agent('echo.ts'), exportName: 'nope' } }));
    expect(outcome).toMatchObject({ ok: false, failure: { class: 'permanent', code: 'AGENT_NOT_A_FUNCTION', message: expect.stringContaining('echo.ts') } });
  });
});
