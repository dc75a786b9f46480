import { describe, expect, it } from 'vitest';
import { NotificationRecorder } from '../../src/store/notifications.ts';

const recorder = () => {
  const r = new NotificationRecorder();
  r.set({ node: 'n-1', events: ['task.failed', 'task.quarantined', 'task.waiting', 'task.succeeded'] });
  return r;
};
const attempts = { transient: 1, permanent: 0, crashes: 0 };
const leftover = { class: 'transient' as const, code: 'RATE_LIMITED', message: 'API Error: 429 retry-after: 1' };

describe('a task notification', () => {
  it('carries the error of a task that failed or was quarantined', () => {
    for (const state of ['failed', 'quarantined'] as const) {
      const n = recorder().forTask({ id: 't-1', kind: 'k', state, attempts, error: leftover }, 'running', 5);
      expect(n?.task?.error).toEqual(leftover);
    }
  });

  it('leaves out the error a waiting or succeeded task still remembers from a retried attempt', () => {
    for (const state of ['waiting', 'succeeded'] as const) {
      const n = recorder().forTask({ id: 't-1', kind: 'k', state, step: 'test', attempts, error: leftover }, 'running', 5);
      expect(n?.event).toBe(`task.${state}`);
      expect(n?.task).toEqual({ id: 't-1', kind: 'k', state, step: 'test', attempts });
    }
  });
});
