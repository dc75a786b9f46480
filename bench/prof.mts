import { openSqliteTaskStore } from '/work/main/src/store/sqlite/sqlite-task-store.ts';
const N = 5000, owner = 'b:1';
const store = openSqliteTaskStore({ path: `/tmp/prof-${process.pid}.db` });
for (let i = 0; i < N; i++) await store.submit({ id: `t${i}`, kind: 'noop' });
let t = performance.now();
for (;;) { const [task] = await store.claim({ owner, limit: 1, leaseTtlMs: 15000 }); if (!task) break; }
console.log('claims', N / (performance.now() - t) * 1000);
const all = await store.query({ state: 'running', limit: N });
const revs = all.map(x => [x.id, x.revision] as const);
t = performance.now();
for (const [id, revision] of revs) await store.transition({ id, revision, owner, to: 'succeeded', reason: 'done', result: null });
console.log('transitions', N / (performance.now() - t) * 1000);
