import { describe, expect, it } from 'vitest';
import { lazyChild } from '../../src/actors/lazy-logger.ts';
import { recordingLogger } from '../support/recording-logger.ts';
import type { Logger } from '../../src/ports/logger.ts';

describe('lazyChild', () => {
  it('makes the child logger only when it first logs, with all the bindings', () => {
    const parent = recordingLogger();
    let made = 0;
    const counting: Logger = { ...parent, child: (b) => (made++, parent.child(b)) };
    const saga = lazyChild(counting, { taskId: 't1' });
    const run = saga.child({ step: 'build' });
    expect(made).toBe(0);
    run.warn({ code: 'X' }, 'careful');
    saga.info('hello');
    expect(made).toBe(2);
    expect(parent.lines).toEqual([
      expect.objectContaining({ level: 'warn', msg: 'careful', fields: expect.objectContaining({ taskId: 't1', step: 'build', code: 'X' }) }),
      expect.objectContaining({ level: 'info', msg: 'hello', fields: expect.objectContaining({ taskId: 't1' }) }),
    ]);
  });
});
