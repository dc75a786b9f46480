import type { ClusterSize } from './cluster.ts';
import type { EmbeddedSize } from './embedded.ts';
import type { FuzzSize } from './fuzz.ts';

export type Scenario = 'embedded' | 'cluster' | 'fuzz';
export interface Sizes {
  embedded: EmbeddedSize;
  cluster: ClusterSize;
  fuzz: FuzzSize;
}

/** The default size meets issue 11's "done when": ≥ 50 embedded kills, ≥ 30 cluster kills with ≥ 6 server kills, ≥ 1,000 malformed messages. */
function defaults(): Sizes {
  return {
    embedded: { kills: 50, submitEveryMs: 150, upMs: [1500, 4000], reapIntervalMs: 1000, settleMs: 180_000 },
    cluster: { kills: 30, serverKills: 6, publishEveryMs: 100, upMs: [1500, 4000], downMs: [300, 3000], settleMs: 240_000 },
    fuzz: { messages: 1000, cliVectors: 120, configs: 40, settleMs: 60_000 },
  };
}

function quick(): Sizes {
  const d = defaults();
  return {
    embedded: { ...d.embedded, kills: 3, upMs: [1500, 2500], settleMs: 30_000 },
    cluster: { ...d.cluster, kills: 3, serverKills: 1, upMs: [1500, 2500], downMs: [300, 1000], settleMs: 30_000 },
    fuzz: { ...d.fuzz, messages: 120, cliVectors: 10, configs: 6, settleMs: 15_000 },
  };
}

/** Flag `--embedded-kills=N` or env `CHAOS_EMBEDDED_KILLS=N` for every numeric size. */
const knobs: Array<[Scenario, string, string]> = [
  ['embedded', 'kills', 'embedded-kills'],
  ['embedded', 'submitEveryMs', 'embedded-submit-every-ms'],
  ['embedded', 'reapIntervalMs', 'reap-interval-ms'],
  ['embedded', 'settleMs', 'embedded-settle-ms'],
  ['cluster', 'kills', 'cluster-kills'],
  ['cluster', 'serverKills', 'server-kills'],
  ['cluster', 'publishEveryMs', 'cluster-publish-every-ms'],
  ['cluster', 'settleMs', 'cluster-settle-ms'],
  ['fuzz', 'messages', 'fuzz-messages'],
  ['fuzz', 'cliVectors', 'fuzz-cli'],
  ['fuzz', 'configs', 'fuzz-configs'],
  ['fuzz', 'settleMs', 'fuzz-settle-ms'],
];

export function sizesFrom(argv: string[], env: NodeJS.ProcessEnv): { sizes: Sizes; only: Scenario[]; seed: number; parallel: boolean } {
  const flags = new Map<string, string>();
  for (const arg of argv) {
    const m = /^--([a-z-]+)(?:=(.*))?$/.exec(arg);
    if (!m) throw new Error(`chaos: unknown argument ${JSON.stringify(arg)} (flags look like --quick, --only=fuzz, --seed=7, --embedded-kills=10)`);
    flags.set(m[1]!, m[2] ?? 'true');
  }
  const value = (flag: string) => flags.get(flag) ?? env[`CHAOS_${flag.toUpperCase().replaceAll('-', '_')}`];
  const isQuick = value('quick') === 'true' || value('quick') === '1';
  const sizes = isQuick ? quick() : defaults();
  // Side by side by default only at the quick size: it then fits in a minute; the full size runs one at a time.
  const parallel = (value('parallel') ?? String(isQuick)) === 'true';
  for (const [scenario, key, flag] of knobs) {
    const v = value(flag);
    if (v === undefined) continue;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new Error(`chaos: --${flag} must be a non-negative integer, got ${JSON.stringify(v)}`);
    (sizes[scenario] as unknown as Record<string, number>)[key] = n;
    flags.delete(flag);
  }
  const onlyText = value('only') ?? 'embedded,cluster,fuzz';
  const only = onlyText.split(',').map((s) => s.trim()) as Scenario[];
  for (const s of only) if (!['embedded', 'cluster', 'fuzz'].includes(s)) throw new Error(`chaos: --only takes embedded, cluster and/or fuzz, got ${JSON.stringify(s)}`);
  const seedText = value('seed');
  const seed = seedText === undefined ? Date.now() % 1_000_000 : Number(seedText);
  if (!Number.isInteger(seed)) throw new Error(`chaos: --seed must be an integer, got ${JSON.stringify(seedText)}`);
  for (const known of ['quick', 'only', 'seed', 'parallel']) flags.delete(known);
  if (flags.size > 0) throw new Error(`chaos: unknown flag(s) ${[...flags.keys()].map((f) => `--${f}`).join(', ')}`);
  return { sizes, only, seed, parallel };
}
