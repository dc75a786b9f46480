/**
 * The raw SQLite ceiling (better-sqlite3, Reeve's own version and pragmas: WAL, synchronous
 * NORMAL): a backlog of rows, then a loop of claim one (UPDATE … RETURNING) + complete one,
 * as bench/store.ts measures it. No runtime, no history: what the disk path alone allows.
 */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { perSecond } from '../lib/common.mjs';

export const workloads = {
  noop({ n }, ctx) {
    const db = new Database(join(ctx.dir, 'raw.db'));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(`CREATE TABLE jobs (seq INTEGER PRIMARY KEY, id TEXT UNIQUE, state TEXT, priority INTEGER, owner TEXT);
             CREATE INDEX jobs_q ON jobs (priority DESC, seq) WHERE state = 'queued';`);
    const insert = db.prepare("INSERT INTO jobs (id, state, priority) VALUES (?, 'queued', 0)");
    db.transaction(() => {
      for (let i = 0; i < n; i++) insert.run(`j${i}`);
    })();
    const claim = db.prepare("UPDATE jobs SET state = 'running', owner = ? WHERE seq = (SELECT seq FROM jobs WHERE state = 'queued' ORDER BY priority DESC, seq LIMIT 1) RETURNING id");
    const complete = db.prepare("UPDATE jobs SET state = 'done' WHERE id = ? AND owner = ?");
    const start = performance.now();
    for (let row = claim.get('o'); row; row = claim.get('o')) complete.run(row.id, 'o');
    const ms = performance.now() - start;
    db.close();
    return { value: perSecond(n, ms), ms: Math.round(ms) };
  },
};
