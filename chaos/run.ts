/**
 * `npm run chaos`: the reliability suite of issue 11. Runs (a) embedded kill -9 rounds, (b) a
 * 3-server / 3-node cluster under random kills of nodes and servers, (c) malformed input on
 * NATS, the CLI and config files; checks the invariants after each and prints one JSON line of
 * figures on stdout. Exit 1 when any invariant failed (each finding is on stderr).
 *
 *   npm run chaos                       default size (≥ 50 embedded kills, ≥ 30 cluster kills …)
 *   npm run chaos -- --quick            under a minute (scenarios side by side; --parallel=false for one at a time)
 *   npm run chaos -- --only=fuzz --seed=42 --fuzz-messages=5000
 *
 * Every size is a flag (--embedded-kills=N …) or an environment variable (CHAOS_EMBEDDED_KILLS=N).
 */
import { clusterScenario } from './cluster.ts';
import { embeddedScenario } from './embedded.ts';
import { addFigures, emptyFigures, type Findings } from './lib/figures.ts';
import { killMarked } from './lib/procs.ts';
import { rng } from './lib/rng.ts';
import { fuzzScenario } from './fuzz.ts';
import { sizesFrom } from './sizes.ts';

const started = Date.now();
const { sizes, only, seed, parallel } = sizesFrom(process.argv.slice(2), process.env);
process.stderr.write(`chaos: seed ${seed}, scenarios ${only.join(',')}, sizes ${JSON.stringify(sizes)}\n`);
const figures = emptyFigures();
const findings: Findings[] = [];
let failedToRun: unknown;
try {
  const scenarios = {
    embedded: () => embeddedScenario(sizes.embedded, rng(seed)),
    cluster: () => clusterScenario(sizes.cluster, rng(seed + 1)),
    fuzz: () => fuzzScenario(sizes.fuzz, rng(seed + 2)),
  };
  const runOne = async (name: keyof typeof scenarios) => {
    const t0 = Date.now();
    const result = await scenarios[name]();
    addFigures(figures, result.figures);
    findings.push(result.findings);
    process.stderr.write(`chaos: [${name}] done in ${Math.round((Date.now() - t0) / 1000)} s, ${result.findings.lines.length} finding(s)\n`);
  };
  if (parallel) await Promise.all(only.map(runOne));
  else for (const name of only) await runOne(name);
} catch (err) {
  failedToRun = err;
  process.stderr.write(`chaos: the harness itself failed: ${(err as Error).stack ?? String(err)}\n`);
} finally {
  killMarked();
}
figures.durationMs = Date.now() - started;
const all = findings.flatMap((f) => f.lines);
process.stdout.write(`${JSON.stringify({ seed, ...figures, findings: all.length })}\n`);
if (all.length > 0) process.stderr.write(`chaos: ${all.length} invariant(s) failed:\n${all.map((l) => `  - ${l}`).join('\n')}\n`);
process.exit(failedToRun !== undefined ? 2 : all.length > 0 ? 1 : 0);
