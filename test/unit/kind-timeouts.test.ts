import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { buildKindPlans, warnUntimedKinds } from '../../src/node/kind-plans.ts';
import { submitRequestSchema } from '../../src/protocol/task.ts';
import { recordingLogger } from '../support/recording-logger.ts';

const config = parseConfig(
  {
    agents: {
      plain: { command: ['true'] },
      untimed: { command: ['true'], timeoutMs: 0 },
      short: { module: './short.ts', timeoutMs: 5000 },
      pipeline: { steps: [{ name: 'a', run: { command: ['true'] } }] },
    },
  },
  { baseDir: '/tmp' },
);

describe('run timeouts of a kind', () => {
  it('gives a kind without timeoutMs 30 minutes, keeps a set one, and runs a kind with timeoutMs 0 untimed', () => {
    const plans = buildKindPlans(config);
    expect(plans.get('plain')?.timeoutMs).toBe(30 * 60 * 1000);
    expect(plans.get('pipeline')?.timeoutMs).toBe(30 * 60 * 1000);
    expect(plans.get('short')?.timeoutMs).toBe(5000);
    expect(plans.get('untimed')).toBeDefined();
    expect(plans.get('untimed')).not.toHaveProperty('timeoutMs');
  });

  it('warns once per kind whose timeout is turned off, naming it', () => {
    const log = recordingLogger();
    warnUntimedKinds(config, log);
    expect(log.lines).toEqual([{ level: 'warn', fields: expect.objectContaining({ kind: 'untimed' }), msg: expect.stringContaining('timeoutMs is 0') }]);
  });

  it('takes a task override from 1 ms to 2^31-1 ms and refuses 0 or more, naming the limit', () => {
    const parse = (timeoutMs: number) => submitRequestSchema.safeParse({ kind: 'plain', timeoutMs });
    expect(parse(1).success).toBe(true);
    expect(parse(2 ** 31 - 1).success).toBe(true);
    expect(parse(0).error?.issues[0]).toMatchObject({ path: ['timeoutMs'], message: 'must be > 0 ms' });
    expect(parse(2 ** 31).error?.issues[0]).toMatchObject({ path: ['timeoutMs'], message: expect.stringContaining('at most 2147483647 ms') });
  });
});
