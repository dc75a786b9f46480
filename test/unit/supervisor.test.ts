import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loopChild } from '../../src/actors/loop-child.ts';
import { startRootSupervisor, Supervisor, supervisorChild, type ChildSpec, type SupervisorOptions } from '../../src/actors/supervisor.ts';
import type { RestartType, SupervisorSpec } from '../../src/machines/supervisor-policy.ts';
import type { Clock } from '../../src/ports/clock.ts';
import type { Logger } from '../../src/ports/logger.ts';
import type { Timers } from '../../src/ports/timers.ts';

const T0 = Date.UTC(2026, 0, 1);

// The ports over vitest's fake timers: looked up at call time, after vi.useFakeTimers().
const timers: Timers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>) };
const clock: Clock = { now: () => Date.now() };
/** Lets queued promise work finish without moving the fake clock. */
const settle = () => vi.advanceTimersByTimeAsync(0);

interface LogLine {
  level: string;
  msg: string | undefined;
  fields: Record<string, unknown>;
}

class RecordingLogger implements Logger {
  constructor(
    readonly lines: LogLine[] = [],
    private readonly bindings: Record<string, unknown> = {},
  ) {}
  debug = this.record('debug');
  info = this.record('info');
  warn = this.record('warn');
  error = this.record('error');
  child(bindings: Record<string, unknown>): Logger {
    return new RecordingLogger(this.lines, { ...this.bindings, ...bindings });
  }
  messages(): string[] {
    return this.lines.map((l) => l.msg ?? '');
  }
  private record(level: string) {
    return (fieldsOrMsg: object | string, msg?: string): void => {
      const isMsg = typeof fieldsOrMsg === 'string';
      this.lines.push({ level, msg: isMsg ? fieldsOrMsg : msg, fields: { ...this.bindings, ...(isMsg ? {} : fieldsOrMsg) } });
    };
  }
}

/** A child the test crashes, exits or stops by hand; every start and stop lands in `events`. */
class Probe {
  starts = 0;
  private current: { resolve: () => void; reject: (err: Error) => void } | undefined;
  constructor(
    readonly id: string,
    private readonly events: string[],
    readonly restart: RestartType = 'permanent',
    private failingStarts = 0,
    /** How long a stop takes, on the fake clock. */
    private readonly stopMs = 0,
  ) {}
  get spec(): ChildSpec {
    return {
      id: this.id,
      restart: this.restart,
      start: () => {
        this.starts += 1;
        this.events.push(`start:${this.id}`);
        if (this.failingStarts-- > 0) throw new Error(`${this.id} cannot start`);
        const done = new Promise<void>((resolve, reject) => (this.current = { resolve, reject }));
        const settleDone = this.current!;
        return {
          done,
          stop: async () => {
            this.events.push(`stop:${this.id}`);
            if (this.stopMs > 0) {
              await new Promise((resolve) => setTimeout(resolve, this.stopMs));
              this.events.push(`stopped:${this.id}`);
            }
            // Like a killed process: `done` rejects, which must still not count as a crash.
            settleDone.reject(new Error(`${this.id} killed`));
          },
        };
      },
    };
  }
  crash(message = `${this.id} failed`): void {
    this.current!.reject(new Error(message));
  }
  exit(): void {
    this.current!.resolve();
  }
}

const spec = (overrides: Partial<SupervisorSpec> = {}): SupervisorSpec => ({
  strategy: 'one_for_one',
  intensity: { maxRestarts: 3, periodMs: 60_000 },
  backoff: { baseMs: 0, maxMs: 0 },
  ...overrides,
});

let log: RecordingLogger;
let events: string[];
const options = (id: string, children: ChildSpec[], s: Partial<SupervisorSpec> = {}): SupervisorOptions => ({ id, spec: spec(s), children, log, clock, timers });

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
  log = new RecordingLogger();
  events = [];
});
afterEach(() => {
  vi.useRealTimers();
});

describe('supervisor: one_for_one with loops', () => {
  it('restarts a loop that throws on its third tick after the backoff, logs and counts it, and keeps its sibling ticking', async () => {
    let flakyTicks = 0;
    let steadyTicks = 0;
    const flaky = loopChild({ id: 'flaky', intervalMs: 100, timers, tick: () => {
      if (++flakyTicks === 3) throw new Error('lease renewal failed');
    } });
    const steady = loopChild({ id: 'steady', intervalMs: 100, timers, tick: () => {
      steadyTicks++;
    } });
    const sup = new Supervisor(options('root', [flaky, steady], { backoff: { baseMs: 1_000, maxMs: 30_000 } }));
    await sup.start();

    await vi.advanceTimersByTimeAsync(200); // ticks at 0, 100, 200: the third throws
    expect(log.lines).toEqual([
      {
        level: 'warn',
        msg: 'child crashed; restarting',
        fields: expect.objectContaining({ child: 'flaky', supervisor: 'root', restarts: 1, delayMs: 1_000, err: expect.objectContaining({ message: 'lease renewal failed' }) }),
      },
    ]);
    expect(sup.metrics()).toEqual({ flaky: { crashes: 1, restarts: 0 }, steady: { crashes: 0, restarts: 0 } });

    await vi.advanceTimersByTimeAsync(999);
    expect(flakyTicks).toBe(3); // still waiting out the backoff
    await vi.advanceTimersByTimeAsync(1);
    expect(flakyTicks).toBe(4);
    expect(sup.metrics().flaky).toEqual({ crashes: 1, restarts: 1 });
    expect(steadyTicks).toBe(13); // 0, 100, …, 1200: never interrupted
    await sup.stop();
  });

  it('never stops a sibling when a child crashes', async () => {
    const [a, b] = [new Probe('a', events), new Probe('b', events)];
    const sup = new Supervisor(options('sup', [a.spec, b.spec]));
    await sup.start();
    a.crash();
    await settle();
    expect(events).toEqual(['start:a', 'start:b', 'start:a']);
    await sup.stop();
  });
});

describe('supervisor: rest_for_one', () => {
  it('stops the later siblings in reverse order, then restarts the crashed child and them in order, leaving earlier ones running', async () => {
    const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((id) => new Probe(id, events)) as [Probe, Probe, Probe, Probe];
    const sup = new Supervisor(options('sup', [a.spec, b.spec, c.spec, d.spec], { strategy: 'rest_for_one' }));
    await sup.start();
    events.length = 0;
    b.crash();
    await settle();
    expect(events).toEqual(['stop:d', 'stop:c', 'start:b', 'start:c', 'start:d']);
    expect(sup.metrics()).toEqual({
      a: { crashes: 0, restarts: 0 },
      b: { crashes: 1, restarts: 1 },
      c: { crashes: 0, restarts: 1 },
      d: { crashes: 0, restarts: 1 },
    });
    await sup.stop();
  });

  it('stops a temporary later sibling for good instead of restarting it', async () => {
    const [a, task] = [new Probe('a', events), new Probe('task-1', events, 'temporary')];
    const sup = new Supervisor(options('sup', [a.spec], { strategy: 'rest_for_one' }));
    await sup.start();
    await sup.startChild(task.spec);
    a.crash();
    await settle();
    expect(events).toEqual(['start:a', 'start:task-1', 'stop:task-1', 'start:a']);
    expect(sup.metrics()).toEqual({ a: { crashes: 1, restarts: 1 } });
    await sup.stop();
  });

  it('brings each child up once, in start order, when an earlier sibling crashes during a backoff', async () => {
    const [a, b, c] = ['a', 'b', 'c'].map((id) => new Probe(id, events)) as [Probe, Probe, Probe];
    const sup = new Supervisor(options('sup', [a.spec, b.spec, c.spec], { strategy: 'rest_for_one', backoff: { baseMs: 1_000, maxMs: 10_000 } }));
    await sup.start();
    events.length = 0;
    b.crash(); // b and c wait 1 s
    await vi.advanceTimersByTimeAsync(500);
    a.crash(); // a, b and c wait 2 s from now
    await vi.advanceTimersByTimeAsync(1_999);
    expect(events).toEqual(['stop:c']);
    await vi.advanceTimersByTimeAsync(1);
    expect(events).toEqual(['stop:c', 'start:a', 'start:b', 'start:c']);
    await sup.stop();
  });
});

describe('supervisor: intensity and nesting', () => {
  it('escalates past its intensity, and the parent restarts the nested supervisor with fresh children', async () => {
    const worker = new Probe('worker', events);
    const inners: Supervisor[] = [];
    const inner = supervisorChild({ ...options('inner', [worker.spec], { intensity: { maxRestarts: 2, periodMs: 60_000 } }), onStart: (s) => inners.push(s) });
    const sibling = new Probe('sibling', events);
    const root = new Supervisor(options('root', [sibling.spec, inner]));
    await root.start();

    for (let i = 0; i < 3; i++) {
      worker.crash();
      await settle();
    }
    expect(log.messages()).toEqual(['child crashed; restarting', 'child crashed; restarting', 'restart intensity exceeded; escalating', 'child crashed; restarting']);
    expect(log.lines[3]!.fields).toMatchObject({ child: 'inner', supervisor: 'root', err: { code: 'INTERNAL', data: { supervisor: 'inner', child: 'worker' } } });
    expect(inners).toHaveLength(2);
    expect(worker.starts).toBe(4); // 1 + 2 restarts inside, + 1 in the new inner supervisor
    expect(events.filter((e) => e.endsWith(':sibling'))).toEqual(['start:sibling']);
    expect(root.metrics().inner).toEqual({ crashes: 1, restarts: 1 });
    await expect(inners[0]!.done).rejects.toMatchObject({ code: 'INTERNAL' });
    await root.stop();
  });

  it('at the root, calls onEscalate exactly once, after every child has stopped', async () => {
    const [first, worker] = [new Probe('first', events, 'permanent', 0, 1_000), new Probe('worker', events)];
    const onEscalate = vi.fn((err: Error) => events.push(`escalated:${(err as { code?: string }).code}`));
    const inner = supervisorChild(options('inner', [worker.spec], { intensity: { maxRestarts: 0, periodMs: 60_000 } }));
    const root = await startRootSupervisor({ ...options('root', [first.spec, inner], { intensity: { maxRestarts: 1, periodMs: 60_000 } }), onEscalate });

    worker.crash(); // inner gives up; root restarts inner (1 of 1 allowed)
    await settle();
    worker.crash(); // inner gives up again; root is past its intensity
    await settle();
    expect(events.at(-1)).toBe('stop:first');
    expect(onEscalate).not.toHaveBeenCalled(); // `first` takes 1 s to stop

    await vi.advanceTimersByTimeAsync(1_000);
    expect(onEscalate).toHaveBeenCalledTimes(1);
    expect(events.slice(-3)).toEqual(['stop:first', 'stopped:first', 'escalated:INTERNAL']);
    await expect(root.done).rejects.toMatchObject({ code: 'INTERNAL', data: { supervisor: 'root', child: 'inner' } });
    await root.stop(); // stopping an escalated supervisor is harmless
    expect(onEscalate).toHaveBeenCalledTimes(1);
  });
});

describe('supervisor: restart types', () => {
  it('never restarts a temporary child, whether it crashes or exits', async () => {
    const sup = new Supervisor(options('sup', []));
    await sup.start();
    const [crasher, finisher] = [new Probe('task-1', events, 'temporary'), new Probe('task-2', events, 'temporary')];
    await sup.startChild(crasher.spec);
    await sup.startChild(finisher.spec);
    crasher.crash();
    finisher.exit();
    await vi.advanceTimersByTimeAsync(60_000);
    expect([crasher.starts, finisher.starts]).toEqual([1, 1]);
    expect(log.lines).toEqual([{ level: 'warn', msg: 'child crashed; not restarting', fields: expect.objectContaining({ child: 'task-1' }) }]);
    // A child removed without a crash leaves no metrics behind; one that crashed stays counted.
    expect(sup.metrics()).toEqual({ 'task-1': { crashes: 1, restarts: 0 } });
    await sup.stop();
  });

  it('restarts a transient child after a crash but not after a normal exit', async () => {
    const sup = new Supervisor(options('sup', []));
    await sup.start();
    const saga = new Probe('saga-t1', events, 'transient');
    await sup.startChild(saga.spec);
    saga.crash();
    await settle();
    expect(saga.starts).toBe(2);
    saga.exit();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(saga.starts).toBe(2);
    expect(log.messages()).toEqual(['child crashed; restarting']);
    // Its id is free again once it has gone.
    await sup.startChild(new Probe('saga-t1', events, 'transient').spec);
    await sup.stop();
  });

  it('counts a child whose start() throws as a crash and restarts it', async () => {
    const shaky = new Probe('shaky', events, 'permanent', 1);
    const sup = new Supervisor(options('sup', [shaky.spec], { backoff: { baseMs: 500, maxMs: 5_000 } }));
    await sup.start();
    await settle();
    expect(log.lines[0]).toMatchObject({ level: 'warn', msg: 'child crashed; restarting', fields: { child: 'shaky', err: { message: 'shaky cannot start' } } });
    await vi.advanceTimersByTimeAsync(500);
    expect(shaky.starts).toBe(2);
    expect(sup.metrics().shaky).toEqual({ crashes: 1, restarts: 1 });
    await sup.stop();
  });
});

describe('supervisor: stopping', () => {
  it('stops children in reverse start order, waits for each, and counts no crash', async () => {
    const probes = ['a', 'b', 'c'].map((id) => new Probe(id, events, 'permanent', 0, 100));
    const sup = new Supervisor(options('sup', probes.map((p) => p.spec)));
    await sup.start();
    const stopped = sup.stop();
    await vi.advanceTimersByTimeAsync(300);
    await stopped;
    await expect(sup.done).resolves.toBeUndefined();
    expect(events).toEqual(['start:a', 'start:b', 'start:c', 'stop:c', 'stopped:c', 'stop:b', 'stopped:b', 'stop:a', 'stopped:a']);
    expect(log.lines).toEqual([]);
    expect(sup.metrics()).toEqual({ a: { crashes: 0, restarts: 0 }, b: { crashes: 0, restarts: 0 }, c: { crashes: 0, restarts: 0 } });
  });

  it('cancels a restart still waiting out its backoff', async () => {
    const child = new Probe('child', events);
    const sup = new Supervisor(options('sup', [child.spec], { backoff: { baseMs: 1_000, maxMs: 1_000 } }));
    await sup.start();
    child.crash();
    await settle();
    await sup.stop();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(child.starts).toBe(1);
  });

  it('terminateChild stops and forgets one child without counting a crash', async () => {
    const [a, b] = [new Probe('a', events), new Probe('b', events)];
    const sup = new Supervisor(options('sup', [a.spec, b.spec]));
    await sup.start();
    expect(await sup.terminateChild('a')).toBe(true);
    expect(await sup.terminateChild('a')).toBe(false);
    await settle();
    expect(events).toEqual(['start:a', 'start:b', 'stop:a']);
    expect(sup.metrics()).toEqual({ b: { crashes: 0, restarts: 0 } });
    await sup.stop();
    expect(events.at(-1)).toBe('stop:b');
  });

  it('refuses a second child with the same id', async () => {
    const sup = new Supervisor(options('sup', [new Probe('a', events).spec]));
    await sup.start();
    await expect(sup.startChild(new Probe('a', events).spec)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await sup.stop();
  });
});
