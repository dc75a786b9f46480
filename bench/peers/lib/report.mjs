/** Medians with min/max per workload and peer, ratios Reeve/peer per round, targets met or missed. */
import { METRIC, PLAN } from './plan.mjs';

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? undefined : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const stats = (xs) => (xs.length === 0 ? undefined : { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });
const fmt = (x, digits = 0) => (x === undefined ? '–' : x.toFixed(digits));
const round = (x, d) => (x === undefined ? undefined : Number(x.toFixed(d)));

/** The figure `key` of every successful round (index kept, undefined for a failed one). */
function series(results, id, key) {
  return (results[id] ?? []).map((r) => (r.error ? undefined : r[key]));
}

/** Ratios num/den of the rounds where both succeeded: "ratios from the same run". */
function pairedRatios(results, num, den, key) {
  const a = series(results, num, key);
  const b = series(results, den, key);
  return a.flatMap((x, i) => (x !== undefined && b[i] ? [x / b[i]] : []));
}

export function report({ results, sizes, runs, skipped, targets, load, seconds }) {
  const figures = {};
  console.log('\nmedian [min–max] per workload (sizes: ' + Object.entries(sizes).map(([w, s]) => `${w} ${JSON.stringify(s)}`).join('; ') + ')');
  for (const [workload, peers] of Object.entries(PLAN)) {
    const m = METRIC[workload];
    for (const peer of peers) {
      const id = `${workload}/${peer}`;
      if (!results[id]) continue;
      const s = stats(series(results, id, m.key).filter((x) => x !== undefined));
      const p50 = workload === 'latency' ? stats(series(results, id, 'p50').filter((x) => x !== undefined)) : undefined;
      const errors = results[id].filter((r) => r.error).map((r) => r.error);
      figures[id] = { unit: m.unit, ...s, ...(p50 ? { p50: p50.median } : {}), ...(errors.length ? { errors } : {}) };
      const extra = p50 ? `  (p50 ${fmt(p50.median, 1)} ms)` : '';
      const err = errors.length ? `  ${errors.length} failed: ${errors[0].slice(0, 160)}` : '';
      console.log(`  ${workload.padEnd(8)} ${peer.padEnd(17)} ${fmt(s?.median, workload === 'latency' ? 1 : 0).padStart(8)} [${fmt(s?.min, workload === 'latency' ? 1 : 0)}–${fmt(s?.max, workload === 'latency' ? 1 : 0)}] ${m.unit}${extra}${err}`);
    }
  }

  const ratios = {};
  console.log('\nratios Reeve/peer (median [min–max] of the per-round ratios; > 1 is better for tasks/s, < 1 for ms and KB)');
  for (const [workload, peers] of Object.entries(PLAN)) {
    const m = METRIC[workload];
    for (const reeve of peers.filter((p) => p.startsWith('reeve-'))) {
      for (const peer of peers.filter((p) => !p.startsWith('reeve-'))) {
        const s = stats(pairedRatios(results, `${workload}/${reeve}`, `${workload}/${peer}`, m.key));
        if (!s) continue;
        ratios[`${workload}: ${reeve} / ${peer}`] = { median: round(s.median, 3), min: round(s.min, 3), max: round(s.max, 3), unit: m.unit };
        console.log(`  ${workload.padEnd(8)} ${`${reeve} / ${peer}`.padEnd(36)} ${fmt(s.median, 2).padStart(6)} [${fmt(s.min, 2)}–${fmt(s.max, 2)}]`);
      }
    }
  }

  const verdicts = [];
  console.log('\ntargets (issue 17)');
  for (const t of targets) {
    let s;
    let shown;
    if (t.abs) {
      s = stats(series(results, t.abs, t.key).filter((x) => x !== undefined));
      shown = s && `${fmt(s.median, 1)} ${t.unit} [${fmt(s.min, 1)}–${fmt(s.max, 1)}], target ≤ ${t.atMost}`;
    } else {
      s = stats(pairedRatios(results, t.num, t.den, 'value'));
      shown = s && `${fmt(s.median, 2)}× [${fmt(s.min, 2)}–${fmt(s.max, 2)}], target ≥ ${t.atLeast}×`;
    }
    const met = s === undefined ? undefined : t.abs ? s.median <= t.atMost : s.median >= t.atLeast;
    verdicts.push({ label: t.label, median: round(s?.median, 3), min: round(s?.min, 3), max: round(s?.max, 3), ...(t.abs ? { atMost: t.atMost, unit: t.unit } : { atLeast: t.atLeast }), met: met ?? null });
    console.log(`  ${t.label.padEnd(46)} ${shown ?? 'not measured'}  ${met === undefined ? '' : met ? 'met' : 'MISSED'}`);
  }
  console.log(`\n(${runs} round(s), ${seconds} s; load average ${load.toFixed(1)} at the end: a busy machine gives low, noisy figures; the ratios of one run are what count)`);
  return { at: new Date().toISOString(), node: process.version, runs, sizes, loadAverageAtEnd: load, seconds, skipped, figures, ratios, targets: verdicts, raw: results };
}
