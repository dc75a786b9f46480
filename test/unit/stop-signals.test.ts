import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { handleStopSignals, REPEAT_WINDOW_MS } from '../../src/cli/stop-signals.ts';

function wired() {
  const target = new EventEmitter();
  let now = 1_000;
  const calls: string[] = [];
  const unwire = handleStopSignals(
    { drain: (s) => calls.push(`drain ${s}`), stopNow: (s) => calls.push(`stop ${s}`), reload: () => calls.push('reload') },
    () => now,
    target as unknown as NodeJS.Process,
  );
  return { target, calls, unwire, advance: (ms: number) => (now += ms) };
}

describe('reeve start signal handling', () => {
  it('counts a SIGINT repeated within the window (terminal plus npm forwarding) as one Ctrl-C', () => {
    const w = wired();
    w.target.emit('SIGINT', 'SIGINT');
    w.advance(REPEAT_WINDOW_MS - 1);
    w.target.emit('SIGINT', 'SIGINT');
    expect(w.calls).toEqual(['drain SIGINT']);
  });

  it('stops at once on a second signal after the window', () => {
    const w = wired();
    w.target.emit('SIGTERM', 'SIGTERM');
    w.advance(REPEAT_WINDOW_MS);
    w.target.emit('SIGINT', 'SIGINT');
    w.target.emit('SIGHUP', 'SIGHUP');
    expect(w.calls).toEqual(['drain SIGTERM', 'stop SIGINT', 'reload']);
  });

  it('unwires every handler', () => {
    const w = wired();
    w.unwire();
    expect(['SIGTERM', 'SIGINT', 'SIGHUP'].map((s) => w.target.listenerCount(s))).toEqual([0, 0, 0]);
  });
});
