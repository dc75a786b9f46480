import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { operateOnTask } from '../../src/actors/operator.ts';
import { publicRecord } from '../../src/protocol/public-record.ts';
import { systemClock } from '../../src/platform/system-clock.ts';
import { fixtureAgent, startTestNode, waitForState, type TestNode } from '../support/test-node.ts';

/**
 * Gates, routing and decisions (DESIGN.md, "Human steps") through a real embedded node: real
 * SQLite, module agents on worker threads, command gates as child processes.
 */
const verdictGate = fileURLToPath(new URL('../fixtures/procs/verdict-gate.mjs', import.meta.url));
const develop = { name: 'develop', run: { module: fixtureAgent('counts-visits.ts') }, compensate: { module: fixtureAgent('undo.ts') } };
const reviewed = (gate: object, developExtra: object = {}) => ({
  steps: [{ ...develop, ...developExtra }, { name: 'review', run: { module: fixtureAgent('counts-visits.ts') }, gate }, { name: 'merge', run: { module: fixtureAgent('counts-visits.ts') } }],
  retry: { permanent: { maxAttempts: 1 } },
});
const moduleGate = { module: fixtureAgent('review-gate.ts') };

describe('human steps through a real node', () => {
  let t: TestNode | undefined;
  afterEach(async () => {
    await t?.dispose();
    t = undefined;
  });
  const reasons = async (id: string) => (await t!.node.store.get(id))!.history.map((h) => h.reason);

  it('runs a review gate that fails twice then passes: back to develop each time with the reason as feedback, every verdict in history', async () => {
    t = await startTestNode({ agents: { ship: reviewed(moduleGate) } });
    const id = (await t.node.store.submit({ kind: 'ship', input: { failures: 2 } })).task.id;
    const task = await waitForState(t.node, id, ['succeeded', 'failed']);
    expect(task.state).toBe('succeeded');
    const history = await reasons(id);
    expect(history.filter((r) => r.startsWith('gate review'))).toEqual([
      'gate review: fail — "tests missing (check 1)" → develop (visit 2 of 3) [step develop]',
      'gate review: fail — "tests missing (check 2)" → develop (visit 3 of 3) [step develop]',
    ]);
    expect(history).toContain('step review done; gate review: pass — "tests present (check 3)"; next merge [step merge]');
    expect(publicRecord(task).steps).toEqual([
      { name: 'develop', visits: 3, output: { step: 'develop', n: 3, feedback: { reason: 'tests missing (check 2)', from: 'review' }, approval: null } },
      { name: 'review', visits: 3, output: { step: 'review', n: 3, feedback: null, approval: null } },
      { name: 'merge', visits: 1, output: { step: 'merge', n: 1, feedback: null, approval: null } },
    ]);
  });

  it('reads ctx.goto inside a gate as a failed verdict with that goto', async () => {
    t = await startTestNode({ agents: { ship: reviewed(moduleGate) } });
    const id = (await t.node.store.submit({ kind: 'ship', input: { failures: 1, viaCtx: true } })).task.id;
    expect((await waitForState(t.node, id, ['succeeded', 'failed'])).state).toBe('succeeded');
    expect(await reasons(id)).toContain('gate review: fail → develop (visit 2 of 3) [step develop]');
  });

  it('takes a command gate’s verdict from its last stdout line, passes one that exits 0 without JSON, and fails the attempt of one that exits non-zero', async () => {
    const commandGate = { command: ['node', verdictGate] };
    t = await startTestNode({ agents: { ship: reviewed(commandGate), crashy: reviewed(commandGate) } });
    const ok = (await t.node.store.submit({ kind: 'ship', input: {} })).task.id;
    const crashed = (await t.node.store.submit({ kind: 'crashy', input: { crash: true } })).task.id;
    expect((await waitForState(t.node, ok, ['succeeded', 'failed'])).state).toBe('succeeded');
    const history = await reasons(ok);
    expect(history).toContain('gate review: fail — "only n=1" → develop (visit 2 of 3) [step develop]');
    expect(history).toContain('step review done; gate review: pass; next merge [step merge]');
    const failed = await waitForState(t.node, crashed, ['failed', 'succeeded']);
    expect(failed).toMatchObject({ state: 'failed', attempts: { permanent: 1 } });
    expect(failed.error?.message).toMatch(/^gate review: .*exited with 3[\s\S]*no test report found/);
  });

  it('fails the task when a gate sends it past maxVisits with onMaxVisits "fail", compensating develop', async () => {
    t = await startTestNode({ agents: { ship: { ...reviewed(moduleGate, { maxVisits: 2 }), keepWorkspace: true } } });
    const id = (await t.node.store.submit({ kind: 'ship', input: { failures: 5 } })).task.id;
    const task = await waitForState(t.node, id, ['failed', 'succeeded', 'quarantined']);
    expect(task).toMatchObject({ state: 'failed', error: { code: 'MAX_VISITS', message: 'gate review: fail — "tests missing (check 2)" → develop: past its maxVisits (2 of 2)' } });
    expect(task.compensations).toMatchObject([{ step: 'develop', status: 'done' }]);
  });

  it('waits for a person when maxVisits is exhausted with onMaxVisits "wait", and goes on past the loop once approved', async () => {
    t = await startTestNode({ agents: { ship: reviewed(moduleGate, { maxVisits: 2, onMaxVisits: 'wait' }) } });
    const id = (await t.node.store.submit({ kind: 'ship', input: { failures: 5 } })).task.id;
    const waiting = await waitForState(t.node, id, ['waiting', 'failed']);
    expect(waiting.state).toBe('waiting');
    expect(waiting.history.at(-1)!.reason).toBe('gate review: fail — "tests missing (check 2)" → develop, which has had 2 of 2 visits (maxVisits); waiting for a person');
    // A rejection back to develop is still bounded: the task keeps waiting, and says why.
    const again = await operateOnTask(t.node.store, systemClock, id, { op: 'reject', by: 'ana', reason: 'one more try', goto: 'develop' });
    expect(again.state).toBe('waiting');
    expect(again.task.history.at(-1)!.reason).toMatch(/^rejected by ana: "one more try" → develop, which has had 2 of 2 visits/);
    await operateOnTask(t.node.store, systemClock, id, { op: 'approve', by: 'ana', reason: 'good enough', input: { note: 'ship it anyway' } });
    const done = await waitForState(t.node, id, ['succeeded', 'failed']);
    expect(done.result).toEqual({ step: 'merge', n: 1, feedback: null, approval: { input: { note: 'ship it anyway' }, reason: 'good enough', by: 'ana', at: expect.any(Number) } });
  });

  it('names a pipeline’s first step in the record while it runs, without a history entry of its own', async () => {
    t = await startTestNode({ agents: { slow: { steps: [{ name: 'first', run: { module: fixtureAgent('reports-progress.ts') } }, { name: 'second', run: { module: fixtureAgent('echo.ts') } }] } } });
    const id = (await t.node.store.submit({ kind: 'slow', input: { ms: 1500 } })).task.id;
    const running = await waitForState(t.node, id, ['running']);
    for (let i = 0; i < 100 && (await t.node.store.get(id))?.step === undefined; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await t.node.store.get(id))?.step).toBe(running.step ?? 'first');
    const done = await waitForState(t.node, id, ['succeeded', 'failed']);
    expect(done.history.map((h) => h.reason.replace(/claimed by \S+/, 'claimed by N'))).toEqual(['submitted', 'claimed by N', 'step first done; next second [step second]', 'step second done; task succeeded']);
  });

  it('lets a command step ask for a person by printing { "wait": "approval" } as its result', async () => {
    const ask = { name: 'ask', run: { command: ['node', '-e', 'console.log(JSON.stringify({ wait: "approval", draft: 1 }))'] } };
    t = await startTestNode({ agents: { asks: { steps: [ask, { name: 'publish', run: { module: fixtureAgent('counts-visits.ts') } }] } } });
    const id = (await t.node.store.submit({ kind: 'asks' })).task.id;
    expect((await waitForState(t.node, id, ['waiting', 'succeeded', 'failed'])).state).toBe('waiting');
    await operateOnTask(t.node.store, systemClock, id, { op: 'approve', by: 'ana' });
    expect(await waitForState(t.node, id, ['succeeded', 'failed'])).toMatchObject({ state: 'succeeded', result: { step: 'publish', approval: { by: 'ana' } } });
  });

  it('records every goto back into the same step (the history used to drop them: neither state nor step changed)', async () => {
    t = await startTestNode({ agents: { loop: { steps: [{ name: 'poll', run: { module: fixtureAgent('counts-visits.ts') } }] } } });
    const id = (await t.node.store.submit({ kind: 'loop', input: { selfLoops: 2 } })).task.id;
    expect((await waitForState(t.node, id, ['succeeded', 'failed'])).state).toBe('succeeded');
    const gotos = (await reasons(id)).filter((r) => r.includes('→ poll')).map((r) => r.replace(/ \[step poll\]$/, ''));
    expect(gotos).toEqual(['step poll done → poll (visit 2 of 3)', 'step poll done → poll (visit 3 of 3)']);
  });
});
