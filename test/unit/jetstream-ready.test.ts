import { describe, expect, it } from 'vitest';
import { ErrorCode, ReeveError } from '../../src/errors.ts';
import { silentLogger } from '../../src/ports/logger.ts';
import { TimeoutError } from '@nats-io/transport-node';
import { startupSteps, untilJetStreamAnswers } from '../../src/cluster/jetstream-ready.ts';

const unavailable = () => new ReeveError(ErrorCode.StoreUnavailable, 'no responders');

describe('untilJetStreamAnswers', () => {
  it('retries an unavailable JetStream until it answers', async () => {
    let calls = 0;
    const value = await untilJetStreamAnswers(
      'probe',
      async () => {
        if (++calls < 3) throw unavailable();
        return 'ok';
      },
      { timeoutMs: 5_000, log: silentLogger, pauseMs: 1 },
    );
    expect({ value, calls }).toEqual({ value: 'ok', calls: 3 });
  });

  it('fails at once on anything but unavailability (a config conflict is not waited out)', async () => {
    let calls = 0;
    const conflict = new ReeveError(ErrorCode.ConfigInvalid, 'stream conflicts');
    await expect(
      untilJetStreamAnswers(
        'probe',
        async () => {
          calls++;
          throw conflict;
        },
        { timeoutMs: 5_000, log: silentLogger, pauseMs: 1 },
      ),
    ).rejects.toBe(conflict);
    expect(calls).toBe(1);
  });

  it('rethrows the last unavailability once the timeout has passed', async () => {
    let calls = 0;
    await expect(
      untilJetStreamAnswers(
        'probe',
        async () => {
          calls++;
          throw unavailable();
        },
        { timeoutMs: 30, log: silentLogger, pauseMs: 5 },
      ),
    ).rejects.toMatchObject({ code: ErrorCode.StoreUnavailable });
    expect(calls).toBeGreaterThan(1);
  });

  it('retries the NATS client\'s own timeout (a failover), not only STORE_UNAVAILABLE', async () => {
    let calls = 0;
    const value = await untilJetStreamAnswers(
      'reading task t-1',
      async () => {
        if (++calls < 3) throw new TimeoutError();
        return 'ok';
      },
      { timeoutMs: 5_000, log: silentLogger, pauseMs: 1 },
    );
    expect({ value, calls }).toEqual({ value: 'ok', calls: 3 });
  });

  it('gives up with STORE_UNAVAILABLE saying what failed and for how long', async () => {
    await expect(
      untilJetStreamAnswers('reading task t-1', () => Promise.reject(new TimeoutError()), { timeoutMs: 30, log: silentLogger, pauseMs: 5 }),
    ).rejects.toMatchObject({ code: ErrorCode.StoreUnavailable, message: expect.stringMatching(/^reading task t-1 failed: .*still failing after \d+ tries/) });
  });

  it('runs a start-up step of a cluster node through the retry, and of an embedded node once', async () => {
    let calls = 0;
    const flaky = async () => {
      if (++calls < 2) throw unavailable();
      return 'ok';
    };
    await expect(startupSteps('cluster', 5_000, silentLogger)('recording node n', flaky)).resolves.toBe('ok');
    calls = 0;
    await expect(startupSteps('embedded', 5_000, silentLogger)('recording node n', flaky)).rejects.toMatchObject({ code: ErrorCode.StoreUnavailable });
  });
});
