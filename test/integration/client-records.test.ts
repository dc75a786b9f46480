import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openReeveClient } from '../../src/index.ts';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { reeve } from '../support/cli.ts';
import { FakeClock } from '../support/fake-clock.ts';
import { natsServerForSuite } from '../support/nats-server.ts';
import { tempDir } from '../support/temp-dir.ts';

const nats = natsServerForSuite();

/** A claimed task that reported progress and got a cancel request: store fields beside the contract's. */
const CONTRACT_KEYS = ['annotations', 'attempts', 'availableAt', 'breakerKey', 'compensations', 'createdAt', 'heartbeatAt', 'history', 'id', 'input', 'kind', 'leaseExpiresAt', 'owner', 'priority', 'progress', 'revision', 'state', 'updatedAt'];

describe('the client and the CLI return the contract task record', () => {
  it('copies only the contract fields: no cancelRequested, no snapshot (progress is a documented addition)', async () => {
    const dir = tempDir('reeve-records-');
    const path = join(dir.path, 'reeve.db');
    const store = openSqliteTaskStore({ path, clock: new FakeClock() });
    await store.submit({ id: 'r-1', kind: 'work', input: { n: 1 } });
    const [claimed] = await store.claim({ owner: 'n:1', limit: 1, leaseTtlMs: 15_000 });
    await store.heartbeat({ id: 'r-1', owner: 'n:1', revision: claimed!.revision, leaseTtlMs: 15_000, details: { step: 3 } });
    await store.requestCancel('r-1', 'stop');
    expect(await store.get('r-1')).toHaveProperty('cancelRequested');
    await store.close();
    writeFileSync(join(dir.path, 'reeve.config.json'), JSON.stringify({ store: { path } }));
    const client = await openReeveClient(undefined, { cwd: dir.path, env: {} });
    try {
      expect(Object.keys((await client.get('r-1'))!).sort()).toEqual(CONTRACT_KEYS);
      expect(Object.keys((await client.list())[0]!).sort()).toEqual(CONTRACT_KEYS);
      const show = await reeve(dir.path, ['show', 'r-1', '--json']);
      expect(Object.keys(JSON.parse(show.stdout) as object).sort()).toEqual(CONTRACT_KEYS);
      expect(JSON.parse(show.stdout)).toMatchObject({ progress: { step: 3 } });
    } finally {
      await client.close();
      dir.remove();
    }
  });
});

describe('closing the client', () => {
  it('stops a pending wait and events loop with CLIENT_CLOSED (embedded)', async () => {
    const dir = tempDir('reeve-close-');
    const client = await openReeveClient({ store: { path: join(dir.path, 'reeve.db') } }, { cwd: dir.path, env: {} });
    try {
      const { id } = await client.submit({ kind: 'never-run' });
      const waiting = client.wait(id);
      const iterator = client.events(id)[Symbol.asyncIterator]();
      expect((await iterator.next()).value).toMatchObject({ to: 'queued' });
      // Both outcomes are checked as soon as they exist: they settle during close().
      const ends = [expect(waiting).rejects.toMatchObject({ code: 'CLIENT_CLOSED' }), expect(iterator.next()).rejects.toMatchObject({ code: 'CLIENT_CLOSED' })];
      await client.close();
      await Promise.all(ends);
    } finally {
      await client.close();
      dir.remove();
    }
  });

  it('stops a pending wait with CLIENT_CLOSED (cluster)', async () => {
    const client = await openReeveClient({ store: { type: 'nats', bucket: 'close-tasks' }, nats: { servers: [nats.url], prefix: 'close', stream: 'CLOSE_SUBMIT' } }, { env: {} });
    const ends = expect(client.wait('not-pulled-yet')).rejects.toMatchObject({ code: 'CLIENT_CLOSED' });
    await client.close();
    await ends;
  });
});

describe('client input', () => {
  it('answers INVALID_INPUT naming the field for every malformed argument', async () => {
    await expect(openReeveClient(undefined, null as never)).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('options') });
    await expect(openReeveClient(undefined, { cwd: 42 } as never)).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('cwd') });
    const dir = tempDir('reeve-input-');
    const client = await openReeveClient({ store: { path: join(dir.path, 'reeve.db') } }, { cwd: dir.path, env: {} });
    try {
      const { id } = await client.submit({ kind: 'k' });
      await expect(client.wait(id, { onChange: 'yes' } as never)).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('onChange') });
      await expect(client.wait(id, { signal: {} } as never)).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('signal') });
      await expect(client.wait(id, null as never)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      expect(() => client.events(id, { signal: 'x' } as never)).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
      await expect(client.list({ kind: 'k'.repeat(65) })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('kind') });
      await expect(client.list({ kind: 'a b' })).rejects.toMatchObject({ code: 'INVALID_INPUT', message: expect.stringContaining('kind') });
      await expect(client.approve(id, null as never)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
      expect(await client.list({ kind: 'k' })).toHaveLength(1);
    } finally {
      await client.close();
      dir.remove();
    }
  });
});
