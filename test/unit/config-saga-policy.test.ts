import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { knownKinds, sagaPolicyFor } from '../../src/config/saga-policy.ts';

const config = parseConfig(
  {
    node: { crashLimit: 4 },
    agents: {
      echo: { module: './echo.ts' },
      claude: {
        command: ['claude', '-p', 'x'],
        timeoutIs: 'transient',
        maxRetryAfterMs: 30_000,
        crashLimit: 1,
        retry: { transient: { maxAttempts: 9 }, permanent: { baseMs: 10, maxMs: 20 } },
      },
      ship: {
        steps: [
          { name: 'develop', run: { module: './dev.ts' }, compensate: { command: ['git', 'reset'] } },
          { name: 'review', run: { module: './review.ts' }, gate: { module: './gate.ts' }, maxVisits: 2, onMaxVisits: 'wait' },
        ],
      },
    },
  },
  { baseDir: '/srv/reeve' },
);

describe('sagaPolicyFor', () => {
  it('makes a module kind one non-compensable step named "run", with the node crash limit and default budgets', () => {
    expect(sagaPolicyFor(config, 'echo')).toEqual({
      steps: [{ name: 'run', compensable: false, maxVisits: 1, onMaxVisits: 'fail' }],
      retry: { transient: { maxAttempts: 5, baseMs: 1000, maxMs: 300_000 }, permanent: { maxAttempts: 2, baseMs: 1000, maxMs: 60_000 } },
      crashLimit: 4,
      timeoutIs: 'permanent',
      maxRetryAfterMs: 600_000,
      poisonRepeats: 3,
    });
  });

  it("takes a command kind's own budgets, timeout class, Retry-After cap and crash limit", () => {
    expect(sagaPolicyFor(config, 'claude')).toMatchObject({
      steps: [{ name: 'run', compensable: false, maxVisits: 1, onMaxVisits: 'fail' }],
      retry: { transient: { maxAttempts: 9, baseMs: 1000, maxMs: 300_000 }, permanent: { maxAttempts: 2, baseMs: 10, maxMs: 20 } },
      crashLimit: 1,
      timeoutIs: 'transient',
      maxRetryAfterMs: 30_000,
    });
  });

  it('maps each step of a steps kind; a step is compensable when it has a compensate handler', () => {
    expect(sagaPolicyFor(config, 'ship').steps).toEqual([
      { name: 'develop', compensable: true, maxVisits: 3, onMaxVisits: 'fail' },
      { name: 'review', compensable: false, maxVisits: 2, onMaxVisits: 'wait' },
    ]);
  });

  it('returns a fresh, unfrozen policy each time, so a saga may keep it', () => {
    const first = sagaPolicyFor(config, 'echo');
    expect(first).not.toBe(sagaPolicyFor(config, 'echo'));
    expect(Object.isFrozen(first.retry.transient)).toBe(false);
  });

  it('refuses an unknown kind with INVALID_INPUT, listing the configured kinds', () => {
    expect(() => sagaPolicyFor(config, 'toString')).toThrow(
      'unknown kind "toString" (configured kinds: claude, echo, ship); add it under "agents" in the config',
    );
    expect(() => sagaPolicyFor(config, 'nope')).toThrow(expect.objectContaining({ code: 'INVALID_INPUT', data: { kind: 'nope', kinds: ['claude', 'echo', 'ship'] } }));
  });
});

describe('knownKinds', () => {
  it('lists the configured kinds in sorted order', () => {
    expect(knownKinds(config)).toEqual(['claude', 'echo', 'ship']);
  });
});
