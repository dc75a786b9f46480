import type { StoredTask, TaskStore } from '../../src/ports/task-store.ts';
import type { FakeClock } from '../support/fake-clock.ts';

/** What a backend gives the suite: a store, more connections to the same data, and cleanup. */
export interface StoreHarness {
  store: TaskStore;
  /** Another connection (another process's view) onto the same data. */
  openPeer(): Promise<TaskStore>;
  /** Closes everything; the data must survive until `dispose`. */
  dispose(): Promise<void>;
}

export type OpenHarness = (clock: FakeClock) => Promise<StoreHarness>;

/**
 * The per-test state the case modules share: `clock` and `store` are replaced before each test
 * (read them in a `beforeEach` or inside the test, never when the cases are declared).
 */
export interface TaskStoreContext {
  readonly clock: FakeClock;
  readonly store: TaskStore;
  /** Another connection onto the same data, closed after the test. */
  peer(): Promise<TaskStore>;
  /** Claims exactly one task for `owner` (default A) or throws. */
  claimOne(owner?: string, s?: TaskStore): Promise<StoredTask>;
}

export const A = 'node-a:1';
export const B = 'node-b:1';
export const TTL = 15_000;
