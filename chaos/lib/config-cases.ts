import { fixture } from './procs.ts';
import type { Rng } from './rng.ts';

/** A broken config file and the dotted field its error must name. */
export interface ConfigCase {
  text: string;
  field: RegExp;
  label: string;
}

type Json = Record<string, unknown>;

function base(): Json {
  return {
    node: { concurrency: 2, pollIntervalMs: 50, logLevel: 'warn' },
    agents: {
      echo: { module: fixture('works.ts') },
      ship: { steps: [{ name: 'develop', run: { module: fixture('works.ts') } }] },
    },
  };
}

/** `agents.ship.steps.0.run.module` also matches `agents.ship.steps[0].run.module`. */
const field = (dotted: string) => new RegExp(dotted.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\\\.(\d+)\\\./g, '(?:\\.$1\\.|\\[$1\\]\\.)'));

/** Sets `path` (dotted) in `config` to `value` (undefined deletes it). */
function set(config: Json, path: string, value: unknown): Json {
  const keys = path.split('.');
  let at: Record<string, unknown> = config;
  for (const key of keys.slice(0, -1)) {
    at[key] ??= {};
    at = at[key] as Record<string, unknown>;
  }
  if (value === undefined) delete at[keys.at(-1)!];
  else at[keys.at(-1)!] = value;
  return config;
}

const mutations: Array<(r: Rng) => [path: string, value: unknown, named?: string]> = [
  (r) => ['node.concurrency', r.pick([0, -1, '8', 1.5, null])],
  (r) => ['node.leaseTtlMs', r.pick(['fast', 0, -100, []])],
  (r) => ['node.logLevel', r.pick(['loud', 3])],
  () => ['node.bogus', 1],
  (r) => ['store.type', r.pick(['mysql', '', 7])],
  (r) => ['nats.replicas', r.pick([2, 0, '3'])],
  () => ['agents.echo.module', './does-not-exist.ts'],
  () => ['agents.echo.command', ['sh', '-c', 'true'], 'agents.echo'],
  (r) => ['agents.echo.timeoutMs', r.pick([0, -1, 'long'])],
  (r) => ['agents.echo.retry.transient.maxAttempts', r.pick(['x', -1, 0.5])],
  () => ['agents.echo.preflight', { module: './no-preflight.ts' }, 'agents.echo.preflight.module'],
  () => ['agents.ship.steps.0.run.module', './no-step.ts'],
  () => ['agents.ship.steps.0.compensate', { module: './no-undo.ts' }, 'agents.ship.steps.0.compensate.module'],
  () => ['agents.ship.steps', [], 'agents.ship.steps'],
  () => ['agents.bad name', { module: fixture('works.ts') }, 'agents'],
  (r) => ['agents.echo.breaker.threshold', r.pick([0, 'three'])],
];

export function configCase(r: Rng): ConfigCase {
  if (r.chance(0.12)) {
    const text = JSON.stringify(base(), null, 2);
    return { text: text.slice(0, r.int(1, text.length - 2)), field: /reeve\.config\.json/, label: 'truncated JSON' };
  }
  const [path, value, named] = r.pick(mutations)(r);
  const config = base();
  if (path.startsWith('agents.ship.steps.0.')) {
    const steps = (config.agents as Json).ship as { steps: Json[] };
    set(steps.steps[0]!, path.slice('agents.ship.steps.0.'.length), value);
  } else if (path.startsWith('agents.bad name')) {
    (config.agents as Json)['bad name'] = value;
  } else set(config, path, value);
  return { text: JSON.stringify(config, null, 2), field: field(named ?? path), label: `${path} = ${JSON.stringify(value)}` };
}
