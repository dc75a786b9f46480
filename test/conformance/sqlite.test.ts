import { join } from 'node:path';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { tempDir } from '../support/temp-dir.ts';
import { describeTaskStore } from './task-store.suite.ts';

describeTaskStore('sqlite', async (clock) => {
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
});
