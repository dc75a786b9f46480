/**
 * CLI latency, side by side in one run: `reeve --version`, `reeve status --json` and
 * `reeve show ID --json` on an embedded store, each against `node -e 0` (a bare Node start) on
 * the same machine at the same moment. Runs are interleaved (node, version, status, show, node,
 * …) so drift in machine speed hits all alike; the median of each is compared.
 * Requirements (issue 13): --version ≤ 3× node -e 0; status and show ≤ 5×.
 * Run: npm run bench:cli [-- RUNS]   (default 9; needs `npm run build` first, as `npm ci` does)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const RUNS = Math.max(5, Number(process.argv[2] ?? 9));
const bin = fileURLToPath(new URL('../bin/reeve.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'reeve-bench-cli-'));
// The agent file must exist: every command refuses a config whose module is missing.
writeFileSync(join(dir, 'echo.mjs'), 'export default async (input) => input;\n');
writeFileSync(join(dir, 'reeve.config.json'), JSON.stringify({ node: { dataDir: '.reeve' }, agents: { echo: { module: './echo.mjs' } } }));
const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('REEVE_')));

function exec(args: string[]): { ms: number; stdout: string } {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd: dir, env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return { ms, stdout: r.stdout };
}

const submitted = JSON.parse(exec([bin, 'submit', 'echo', '--input', '{"n":1}', '--json']).stdout) as { id: string };
const cases: Array<{ name: string; args: string[]; limit?: number }> = [
  { name: 'node -e 0', args: ['-e', '0'] },
  { name: 'reeve --version', args: [bin, '--version'], limit: 3 },
  { name: 'reeve status --json', args: [bin, 'status', '--json'], limit: 5 },
  { name: 'reeve show ID --json', args: [bin, 'show', submitted.id, '--json'], limit: 5 },
];
for (const c of cases) exec(c.args); // warm the file cache
const times = cases.map(() => [] as number[]);
for (let i = 0; i < RUNS; i++) cases.forEach((c, n) => times[n]!.push(exec(c.args).ms));
rmSync(dir, { recursive: true, force: true });

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const base = median(times[0]!);
let ok = true;
console.log(`CLI latency, ${RUNS} interleaved runs each, Node ${process.version}, wall time of the whole process`);
console.log(`${'command'.padEnd(24)}${'median ms'.padStart(10)}${'min'.padStart(8)}${'max'.padStart(8)}${'× node'.padStart(9)}  requirement`);
cases.forEach((c, n) => {
  const m = median(times[n]!);
  const ratio = m / base;
  const met = c.limit === undefined || ratio <= c.limit;
  ok &&= met;
  const req = c.limit === undefined ? '' : `≤ ${c.limit}× ${met ? 'met' : 'NOT MET'}`;
  console.log(`${c.name.padEnd(24)}${m.toFixed(0).padStart(10)}${Math.min(...times[n]!).toFixed(0).padStart(8)}${Math.max(...times[n]!).toFixed(0).padStart(8)}${ratio.toFixed(2).padStart(9)}  ${req}`);
});
process.exitCode = ok ? 0 : 1;
