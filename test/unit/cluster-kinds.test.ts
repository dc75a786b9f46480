import { describe, expect, it } from 'vitest';
import { ClusterKinds } from '../../src/actors/cluster-kinds.ts';
import { recordingLogger } from '../support/recording-logger.ts';
import { InProcessBus } from '../../src/transport/in-process-bus.ts';
import { subjects as subjectsFor } from '../../src/protocol/subjects.ts';
import { FakeClock } from '../support/fake-clock.ts';

const beat = (id: string, kinds: string[] | undefined, at: number, state: 'up' | 'draining' = 'up') => ({ id, incarnation: 'i1', state, capacity: 4, running: 0, at, ...(kinds ? { kinds } : {}) });
const delivered = () => new Promise((resolve) => setTimeout(resolve, 5));

describe('ClusterKinds', () => {
  it('knows the kinds of live, claiming nodes other than itself, from their heartbeats', async () => {
    const clock = new FakeClock();
    const log = recordingLogger();
    const bus = new InProcessBus({ log });
    const subjects = subjectsFor('reeve');
    const kinds = new ClusterKinds({ bus, subjects, clock, log, self: 'me' });
    try {
      expect(kinds.settled()).toBe(false);
      bus.publish(subjects.heartbeat('gpu'), beat('gpu', ['render', 'train'], clock.now()));
      bus.publish(subjects.heartbeat('me'), beat('me', ['mine'], clock.now()));
      bus.publish(subjects.heartbeat('old'), beat('old', undefined, clock.now()));
      bus.publish(subjects.heartbeat('bad'), { id: 'bad', kinds: 'not a list' });
      await delivered();
      expect(kinds.runsElsewhere('render')).toBe(true);
      expect(kinds.runsElsewhere('mine')).toBe(false);
      expect([...kinds.elsewhere()].sort()).toEqual(['render', 'train']);
      expect(log.lines.filter((l) => l.msg === 'ignoring a malformed heartbeat')).toHaveLength(1);

      // A node that drains takes no new work: its kinds no longer count.
      bus.publish(subjects.heartbeat('gpu'), beat('gpu', ['render'], clock.now(), 'draining'));
      await delivered();
      expect(kinds.runsElsewhere('render')).toBe(false);

      // Nor do those of a node not heard for 3 s.
      bus.publish(subjects.heartbeat('cpu'), beat('cpu', ['lint'], clock.now()));
      await delivered();
      expect(kinds.runsElsewhere('lint')).toBe(true);
      clock.advance(3_000);
      expect(kinds.runsElsewhere('lint')).toBe(false);
      expect(kinds.settled()).toBe(true);
    } finally {
      kinds.close();
      await bus.close();
    }
  });
});
