import { describe, expect, it } from 'vitest';
import { describeTask } from '../../src/cli/output.ts';
import type { TaskRecord } from '../../src/protocol/task.ts';

const record = (state: TaskRecord['state']): TaskRecord => ({
  id: 't-1',
  kind: 'coding',
  state,
  priority: 0,
  breakerKey: 'coding',
  attempts: { transient: 1, permanent: 0, crashes: 0 },
  availableAt: 0,
  createdAt: 0,
  updatedAt: 0,
  error: { class: 'transient', code: 'RATE_LIMITED', message: 'API Error: 429' },
  history: [],
  compensations: [],
  annotations: [],
  revision: 3,
});

describe('reeve show of a task with an error', () => {
  it('calls it the error of a failed or quarantined task', () => {
    for (const state of ['failed', 'quarantined'] as const) expect(describeTask(record(state), 0)).toMatch(/^error {6}\[transient RATE_LIMITED\] API Error: 429$/m);
  });

  it('calls it the last error of a task that waits, runs or succeeded after a retried attempt', () => {
    for (const state of ['waiting', 'running', 'succeeded'] as const) {
      const text = describeTask(record(state), 0);
      expect(text).toMatch(/^last error \[transient RATE_LIMITED\] API Error: 429$/m);
      expect(text).not.toMatch(/^error /m);
    }
  });
});
