import { describe, expect, it } from 'vitest';
import { gateRunFailed, judgeGate, stepRoute } from '../../src/machines/gate-verdict.ts';

const ran = { output: { diff: 12 } };

describe('gate verdicts', () => {
  it('passes a gate that returns nothing or a value without pass, keeping the step’s output and route', () => {
    expect(judgeGate('review', ran, { output: undefined })).toEqual({ ok: true, output: { diff: 12 }, gate: { pass: true } });
    expect(judgeGate('review', { ...ran, route: { goto: 'x' } }, { output: { exitCode: 0, logTail: '' } })).toEqual({ ok: true, output: { diff: 12 }, route: { goto: 'x' }, gate: { pass: true } });
  });

  it('passes on { pass: true } with its reason, and lets the gate ask for approval', () => {
    expect(judgeGate('review', ran, { output: { pass: true, reason: 'ok' }, route: { wait: 'approval' } })).toEqual({ ok: true, output: { diff: 12 }, route: { wait: 'approval' }, gate: { pass: true, reason: 'ok' } });
  });

  it('routes a failed verdict with a goto back there', () => {
    expect(judgeGate('review', ran, { output: { pass: false, reason: 'tests missing', goto: 'develop' } })).toEqual({
      ok: true,
      output: { diff: 12 },
      route: { goto: 'develop' },
      gate: { pass: false, reason: 'tests missing' },
    });
  });

  it('reads ctx.goto in a gate as { pass: false, goto }, and as the goto of a failing verdict that has none', () => {
    expect(judgeGate('review', ran, { output: 'whatever', route: { goto: 'develop' } })).toMatchObject({ ok: true, route: { goto: 'develop' }, gate: { pass: false } });
    expect(judgeGate('review', ran, { output: { pass: false, reason: 'no' }, route: { goto: 'develop' } })).toMatchObject({ route: { goto: 'develop' }, gate: { pass: false, reason: 'no' } });
    expect(judgeGate('review', ran, { output: { pass: true }, route: { goto: 'develop' } })).toMatchObject({ ok: true, gate: { pass: true } });
  });

  it('makes a failed verdict without a goto a permanent failure that quotes the reason', () => {
    expect(judgeGate('review', ran, { output: { pass: false, reason: 'tests missing' } })).toEqual({
      ok: false,
      failure: { class: 'permanent', code: 'GATE_FAILED', message: 'gate review: fail — "tests missing"' },
    });
  });

  it('refuses a malformed verdict naming the field', () => {
    const judged = judgeGate('review', ran, { output: { pass: 'no', goto: 'bad step!' } });
    expect(judged).toMatchObject({ ok: false, failure: { class: 'permanent', code: 'GATE_INVALID' } });
    expect(!judged.ok && judged.failure.message).toMatch(/pass must be true or false.*goto must be a step name/);
  });

  it('prefixes the failure of a gate that could not run with the gate, keeping its class', () => {
    expect(gateRunFailed('review', { class: 'transient', code: 'EX_TEMPFAIL', message: 'exit 75' })).toEqual({ class: 'transient', code: 'EX_TEMPFAIL', message: 'gate review: exit 75' });
  });

  it('reads a step result of { wait: "approval" } as asking for a person, unless the step routed itself', () => {
    expect(stepRoute({ wait: 'approval', draft: 1 }, undefined)).toEqual({ wait: 'approval' });
    expect(stepRoute({ wait: 'later' }, undefined)).toBeUndefined();
    expect(stepRoute('wait', undefined)).toBeUndefined();
    expect(stepRoute({ wait: 'approval' }, { goto: 'a' })).toEqual({ goto: 'a' });
  });
});
