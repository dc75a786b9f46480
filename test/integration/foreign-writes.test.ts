import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { watchForeignWrites } from '../../src/store/sqlite/foreign-writes.ts';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { recordingLogger } from '../support/recording-logger.ts';
import { tempDir } from '../support/temp-dir.ts';
import { fixtureAgent, startTestNode, waitForState, type TestNode } from '../support/test-node.ts';
import { runTsFixture } from '../support/tsx.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('writes to the SQLite store by other processes', () => {
  let t: TestNode | undefined;
  const dirs: Array<{ path: string; remove(): void }> = [];
  afterEach(async () => {
    await t?.dispose();
    t = undefined;
    dirs.splice(0).forEach((d) => d.remove());
  });

  it('wake a running node: a task submitted from another process starts long before the next poll', async () => {
    // A poll of a minute: within this test only a wake can start the task.
    t = await startTestNode({ node: { pollIntervalMs: 60_000 }, agents: { echo: { module: fixtureAgent('echo.ts') } } });
    await sleep(200); // the node's first claim round (at start) has found nothing
    await runTsFixture('submit-one.ts', [t.config.store.path, 'from-outside', 'echo']);
    const task = await waitForState(t.node, 'from-outside', ['succeeded'], 15_000);
    expect(task.history.map((h) => h.to)).toEqual(['queued', 'running', 'succeeded']);
  }, 60_000);

  it("report another connection's commits and never the watching connection's own", async () => {
    const d = tempDir();
    dirs.push(d);
    const path = join(d.path, 'tasks.db');
    const own = openSqliteTaskStore({ path });
    const other = openSqliteTaskStore({ path });
    let woken = 0;
    const watch = watchForeignWrites(path, () => own.externalWriteMark(), () => woken++, recordingLogger());
    for (let i = 0; i < 20; i++) await own.submit({ id: `own-${i}`, kind: 'k' });
    await sleep(300); // every event of those commits has been delivered
    expect(woken).toBe(0);
    await other.submit({ id: 'theirs', kind: 'k' });
    for (let i = 0; i < 250 && woken === 0; i++) await sleep(20);
    expect(woken).toBeGreaterThan(0);
    watch.close();
    await own.close();
    await other.close();
  });
});
