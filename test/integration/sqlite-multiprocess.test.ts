import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { tempDir } from '../support/temp-dir.ts';
import { runTsFixture } from '../support/tsx.ts';

describe('SQLite store shared by several processes', () => {
  const dirs: Array<{ remove(): void }> = [];
  afterEach(() => dirs.splice(0).forEach((d) => d.remove()));

  it('never lets two processes win the same task', async () => {
    const dir = tempDir();
    dirs.push(dir);
    const path = join(dir.path, 'shared.db');
    const store = openSqliteTaskStore({ path });
    const total = 600;
    for (let i = 0; i < total; i++) await store.submit({ id: `job-${i}`, kind: 'k' });

    const outputs = await Promise.all(
      ['p1:1', 'p2:1', 'p3:1', 'p4:1'].map((owner, i) => runTsFixture('claim-until-empty.ts', [path, owner, String(1 + i)])),
    );
    const won = outputs.map((out) => JSON.parse(out) as string[]);
    const all = won.flat();
    expect(all).toHaveLength(total);
    expect(new Set(all).size).toBe(total);
    // Each task's one result names the one process that won it.
    const done = await store.query({ state: 'succeeded', limit: total });
    expect(done).toHaveLength(total);
    for (const [i, ids] of won.entries()) {
      for (const id of ids.slice(0, 5)) expect(done.find((t) => t.id === id)?.result).toBe(`p${i + 1}:1`);
    }
    await store.close();
  });
});
