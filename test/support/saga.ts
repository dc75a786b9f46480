import type { SagaEvent, SagaPolicy, StepSpec } from '../../src/machines/task-saga-types.ts';
import { initialSaga, stepSaga, type SagaSnapshot } from '../../src/machines/task-saga-snapshot.ts';
import type { Attempts, Json } from '../../src/protocol/task.ts';

export const T0 = Date.UTC(2026, 0, 1);

export function step(name: string, overrides: Partial<StepSpec> = {}): StepSpec {
  return { name, compensable: false, maxVisits: 3, onMaxVisits: 'fail', ...overrides };
}

export function sagaPolicy(overrides: Partial<SagaPolicy> = {}): SagaPolicy {
  return {
    steps: [step('run')],
    retry: { transient: { maxAttempts: 5, baseMs: 1000, maxMs: 60_000 }, permanent: { maxAttempts: 2, baseMs: 1000, maxMs: 60_000 } },
    crashLimit: 3,
    timeoutIs: 'permanent',
    maxRetryAfterMs: 600_000,
    poisonRepeats: 3,
    ...overrides,
  };
}

/** Events with a clock that ticks 1 s per event, so histories are readable. */
export class SagaDriver {
  now = T0;
  snapshot: SagaSnapshot;
  constructor(readonly policy: SagaPolicy = sagaPolicy()) {
    this.snapshot = initialSaga({ taskId: 't1', policy });
  }
  get state(): unknown {
    return this.snapshot.value;
  }
  get context() {
    return this.snapshot.context;
  }
  send(event: DistributiveOmit<SagaEvent, 'now'>): this {
    this.now += 1000;
    this.snapshot = stepSaga(this.snapshot, { ...event, now: this.now } as SagaEvent);
    return this;
  }
  claim(attempts: Attempts = this.snapshot.context.attempts, policy = this.policy): this {
    return this.send({ type: 'task.claimed', policy, attempts });
  }
  ok(output?: Json, route?: { goto: string } | { wait: 'approval' }): this {
    return this.send({ type: 'step.succeeded', ...(output === undefined ? {} : { output }), ...(route ? { route } : {}) });
  }
  fail(cls: 'transient' | 'permanent' | 'timeout' | 'cancelled' | 'lost-lease', message = `${cls} failure`, extra: { retryAfterMs?: number; jitter?: number } = {}): this {
    const failure = { class: cls, message, ...(extra.retryAfterMs === undefined ? {} : { retryAfterMs: extra.retryAfterMs }) };
    return this.send({ type: 'attempt.failed', failure, jitter: extra.jitter ?? 0.5 });
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
