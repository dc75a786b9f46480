import { describe, expect, it } from 'vitest';
import { initialSaga, persistSaga, stepSaga } from '../../src/machines/task-saga-snapshot.ts';
import { publicRecord } from '../../src/protocol/public-record.ts';
import type { TaskRecord } from '../../src/protocol/task.ts';
import { STEP_OUTPUT_MAX_BYTES, stepRecords } from '../../src/protocol/step-records.ts';
import { sagaPolicy, step, T0 } from '../support/saga.ts';

const policy = sagaPolicy({ steps: [step('draft'), step('review'), step('publish')] });
const persisted = (outputs: unknown[]) => {
  let saga = stepSaga(initialSaga({ taskId: 't', policy }), { type: 'task.claimed', now: T0, policy, attempts: { transient: 0, permanent: 0, crashes: 0 } });
  for (const output of outputs) saga = stepSaga(saga, { type: 'step.succeeded', now: T0, output: output as never });
  return persistSaga(saga);
};

describe('the record’s steps view', () => {
  it('lists every step of the kind in order with its visits and latest output', () => {
    expect(stepRecords(persisted([{ text: 'v1' }, 'ok']))).toEqual([
      { name: 'draft', visits: 1, output: { text: 'v1' } },
      { name: 'review', visits: 1, output: 'ok' },
      { name: 'publish', visits: 1 },
    ]);
  });

  it('gives an output over the cap as a cut of its JSON text with its size, never cutting a character in two', () => {
    const big = 'é'.repeat(STEP_OUTPUT_MAX_BYTES);
    const [draft] = stepRecords(persisted([big]))!;
    expect(draft!.output).toBeUndefined();
    expect(draft!.outputExcerpt).toMatch(/^"é+… \(8194 bytes\)$/);
    expect(Buffer.byteLength(draft!.outputExcerpt!.split('…')[0]!)).toBeLessThanOrEqual(STEP_OUTPUT_MAX_BYTES);
  });

  it('gives no view for a snapshot of another shape, and publicRecord adds it only from a snapshot', () => {
    expect(stepRecords(undefined)).toBeUndefined();
    expect(stepRecords({ context: { policy: { steps: 'x' } } })).toBeUndefined();
    const record = { id: 't', kind: 'k', state: 'running', priority: 0, breakerKey: 'k', attempts: { transient: 0, permanent: 0, crashes: 0 }, availableAt: T0, createdAt: T0, updatedAt: T0, history: [], compensations: [], annotations: [], revision: 1 } satisfies TaskRecord as TaskRecord;
    expect(publicRecord(record)).not.toHaveProperty('steps');
    expect(publicRecord({ ...record, snapshot: persisted(['a']) }).steps?.[0]).toEqual({ name: 'draft', visits: 1, output: 'a' });
    expect(publicRecord({ ...record, snapshot: persisted(['a']) })).not.toHaveProperty('snapshot');
  });
});
