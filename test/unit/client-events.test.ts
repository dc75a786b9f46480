import { describe, expect, it } from 'vitest';
import { changeStream } from '../../src/client/events.ts';
import type { TaskChange } from '../../src/client/task-follow.ts';

const change = (to: string): TaskChange => ({ id: 't', at: 1, from: null, to: to as never, reason: 'r' });

describe('changeStream', () => {
  it('answers every pending next(), in order, when a caller asks again before the last answer', async () => {
    let emit!: (c: TaskChange) => void;
    let end!: () => void;
    const stream = changeStream((onChange) => {
      emit = onChange;
      return new Promise<void>((resolve) => (end = resolve));
    });
    const it = stream[Symbol.asyncIterator]();
    const first = it.next();
    const second = it.next();
    emit(change('queued'));
    emit(change('running'));
    end();
    expect((await Promise.all([first, second])).map((r) => (r.value as TaskChange).to)).toEqual(['queued', 'running']);
    expect((await it.next()).done).toBe(true);
  });
});
