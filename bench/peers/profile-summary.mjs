/**
 * Summarizes V8 CPU profiles (`node --cpu-prof`) by self time: per module (a package in
 * node_modules, a file of Reeve's dist/ or src/, node's internals) and per function.
 *   node bench/peers/profile-summary.mjs FILE.cpuprofile [...] [--top N] [--from S --to S]
 * --from/--to (seconds after the profile's start) keep only the samples in that window.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, from: { type: 'string' }, to: { type: 'string' } } });
const top = Number(values.top);

/** A readable module name for a script URL. */
function moduleOf(url) {
  if (!url) return '(native / idle / gc)';
  if (url.startsWith('node:')) return 'node:internals';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 14).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const m = /\/(dist|src|bench)\/(.*)$/.exec(url);
  return m ? `reeve ${m[1]}/${m[2]}` : url.replace(/^file:\/\//, '');
}

for (const file of positionals) {
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map();
  let t = 0;
  const from = values.from ? Number(values.from) * 1e6 : -Infinity;
  const to = values.to ? Number(values.to) * 1e6 : Infinity;
  prof.samples.forEach((id, i) => {
    const dt = prof.timeDeltas[i] ?? 0;
    t += dt;
    if (t < from || t > to) return;
    self.set(id, (self.get(id) ?? 0) + dt);
  });
  const modules = new Map();
  const functions = new Map();
  let total = 0;
  let idle = 0;
  for (const [id, us] of self) {
    const { callFrame: f } = byId.get(id);
    total += us;
    if (f.functionName === '(idle)' || f.functionName === '(program)') idle += f.functionName === '(idle)' ? us : 0;
    const mod = f.functionName.startsWith('(') ? f.functionName : moduleOf(f.url);
    modules.set(mod, (modules.get(mod) ?? 0) + us);
    const fn = `${f.functionName || '(anonymous)'}  ${f.url ? `${moduleOf(f.url)}:${f.lineNumber + 1}` : ''}`;
    functions.set(fn, (functions.get(fn) ?? 0) + us);
  }
  const busy = total - idle;
  const pct = (us) => `${((us / busy) * 100).toFixed(1).padStart(5)} %`;
  const ms = (us) => `${(us / 1000).toFixed(0).padStart(7)} ms`;
  console.log(`${file}\n  ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (not idle); shares below are of busy time\n\n  by module (self time)`);
  for (const [k, v] of [...modules].filter(([k]) => k !== '(idle)').sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${ms(v)} ${pct(v)}  ${k}`);
  console.log('\n  by function (self time)');
  for (const [k, v] of [...functions].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${ms(v)} ${pct(v)}  ${k}`);
  console.log();
}
