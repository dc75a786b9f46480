import { join } from 'node:path';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import type { FakeClock } from '../support/fake-clock.ts';
import { tempDir } from '../support/temp-dir.ts';
import { describeGateStore, type ReeveHarness } from './gate-store.suite.ts';
import { describeTaskStore } from './task-store.suite.ts';
import { describeOutbox } from './outbox.suite.ts';

/** One file per test; peers are more connections to the same file (other processes' view). */
async function openHarness(clock: FakeClock): Promise<ReeveHarness> {
  const dir = tempDir();
  const path = join(dir.path, 'reeve.db');
  const store = openSqliteTaskStore({ path, clock });
  return {
    store,
    openPeer: async () => openSqliteTaskStore({ path, clock }),
    dispose: async () => {
      await store.close();
      dir.remove();
    },
  };
}

describeTaskStore('sqlite', openHarness);
describeGateStore('sqlite', openHarness);
describeOutbox('sqlite', openHarness);
