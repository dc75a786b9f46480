import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BreakerBoard } from '../../src/actors/breaker-board.ts';
import type { GateStore } from '../../src/ports/gate-store.ts';
import { silentLogger } from '../../src/ports/logger.ts';
import { openSqliteTaskStore } from '../../src/store/sqlite/sqlite-task-store.ts';
import { tempDir } from '../support/temp-dir.ts';

const settings = { threshold: 1, pauseMs: 60_000, maxPauseMs: 60_000 };

describe('BreakerBoard view of the shared breakers', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  afterEach(() => dir?.remove());

  it('re-reads the store only when its view is too old or was invalidated, and sees its own changes at once', async () => {
    dir = tempDir('reeve-breakers-');
    const store = openSqliteTaskStore({ path: join(dir.path, 'reeve.db') });
    let now = 1_000_000;
    const clock = { now: () => now };
    let listings = 0;
    const counted: GateStore = {
      listBreakers: () => {
        listings++;
        return store.listBreakers();
      },
      putBreaker: (record, expected) => store.putBreaker(record, expected),
      listPreflight: () => store.listPreflight(),
      putPreflight: (record) => store.putPreflight(record),
    };
    try {
      const here = new BreakerBoard({ store: counted, clock, log: silentLogger });
      const elsewhere = new BreakerBoard({ store, clock, log: silentLogger });

      await here.refreshIfStale(250);
      await here.refreshIfStale(250);
      expect(listings).toBe(1);

      // Another node opens a breaker: not seen until the view ages out or is invalidated.
      await elsewhere.refresh();
      await elsewhere.report('prov', 't1', 'transient', settings);
      await here.refreshIfStale(250);
      expect(here.gates(now).blocked).toEqual([]);
      here.invalidate();
      await here.refreshIfStale(250);
      expect(listings).toBe(2);
      expect(here.gates(now).blocked).toEqual(['prov']);

      now += 250;
      await here.refreshIfStale(250);
      expect(listings).toBe(3);

      // Its own change needs no listing.
      await here.report('other', 't2', 'transient', settings);
      expect(here.gates(now).blocked.sort()).toEqual(['other', 'prov']);
      expect(listings).toBe(3);
    } finally {
      await store.close();
    }
  });

  it('gates a breaker whose stored snapshot is not one by its recorded state, and replaces it on the next report', async () => {
    dir = tempDir('reeve-breakers-');
    const store = openSqliteTaskStore({ path: join(dir.path, 'reeve.db') });
    const now = 1_000_000;
    try {
      // Written by hand, or by something that is not Reeve: the snapshot cannot be restored.
      await store.putBreaker({ key: 'junk-open', state: 'open', openUntil: now + 60_000, snapshot: { nonsense: true } }, 0);
      await store.putBreaker({ key: 'junk-closed', state: 'closed', snapshot: 'x' }, 0);
      const board = new BreakerBoard({ store, clock: { now: () => now }, log: silentLogger });
      await board.refresh();
      expect(board.gates(now)).toEqual({ blocked: ['junk-open'], probeable: [] });
      expect(board.gates(now + 60_000)).toEqual({ blocked: [], probeable: ['junk-open'] });

      await board.report('junk-closed', 't1', 'transient', settings);
      expect(board.gates(now).blocked.sort()).toEqual(['junk-closed', 'junk-open']);
      const rewritten = (await store.listBreakers()).find((b) => b.key === 'junk-closed');
      expect(rewritten).toMatchObject({ state: 'open', snapshot: { value: 'open' } });
    } finally {
      await store.close();
    }
  });
});
