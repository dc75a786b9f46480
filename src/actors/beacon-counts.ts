import type { TaskState } from '../protocol/task-states.ts';

type Counts = Partial<Record<TaskState, number>>;

/**
 * The task counts a cluster node puts in its store beacon (so `reeve status` reads a few node
 * records instead of every task), counted in the background: a beacon never waits for a count.
 * The KV store answers from its in-memory index at once, but after an outage the index
 * re-syncs first, and a beacon held up that long would make the node look dead. Each call
 * starts a count unless one is running and returns the last one if it is at most `maxAgeMs`
 * old (undefined otherwise: the beacon then goes without counts and status counts itself).
 * A beacon carries the count the previous one started, so the default is three beacon
 * intervals: a slow tick must not strip the counts.
 */
export function backgroundCounts(count: () => Promise<Counts>, now: () => number, maxAgeMs = 3_000): () => Counts | undefined {
  let last: { counts: Counts; at: number } | undefined;
  let counting = false;
  return () => {
    if (!counting) {
      counting = true;
      count()
        .then(
          (counts) => {
            last = { counts, at: now() };
          },
          () => undefined, // the store is unreachable: the beacon write will say so
        )
        .finally(() => {
          counting = false;
        });
    }
    return last !== undefined && now() - last.at <= maxAgeMs ? last.counts : undefined;
  };
}
