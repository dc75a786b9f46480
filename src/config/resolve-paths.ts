import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentConfig, Config } from './schema.ts';

type Runnable = { module: string } | { command: string[]; cwd?: string | undefined };

/**
 * Makes every path in the configuration absolute, against the config file's directory (or the
 * working directory when there is no file), so a node started from anywhere finds the same
 * files. `command[0]` is left alone unless it starts with ./ or ../: a bare name is looked up
 * on PATH when the command runs.
 */
export function resolvePaths(config: Config, baseDir: string): Config {
  const path = (p: string) => (p.startsWith('file:') ? fileURLToPath(p) : resolve(baseDir, p));

  const command = (argv: readonly string[]): string[] => {
    const [program, ...args] = argv;
    const isRelative = program !== undefined && !isAbsolute(program) && /^\.\.?[\\/]/.test(program);
    return isRelative ? [path(program), ...args] : [...argv];
  };

  const withCwd = (cwd: string | undefined) => (cwd === undefined ? {} : { cwd: path(cwd) });

  // Handlers, and preflights (a handler plus timings), are either form.
  const handler = <H extends Runnable>(h: H): H =>
    ('module' in h ? { ...h, module: path(h.module) } : { ...h, command: command(h.command), ...withCwd(h.cwd) }) as H;

  const agent = (a: AgentConfig): AgentConfig => {
    const preflight = {
      ...(a.preflight === undefined ? {} : { preflight: handler(a.preflight) }),
      ...(a.repo === undefined ? {} : { repo: path(a.repo) }),
    };
    if ('module' in a) return { ...a, ...preflight, module: path(a.module) };
    if ('command' in a) return { ...a, ...preflight, command: command(a.command), ...withCwd(a.cwd) };
    const steps = a.steps.map((step) => ({
      ...step,
      run: handler(step.run),
      ...(step.compensate === undefined ? {} : { compensate: handler(step.compensate) }),
      ...(step.gate === undefined ? {} : { gate: handler(step.gate) }),
    }));
    return { ...a, ...preflight, steps };
  };

  const { tls } = config.nats;
  return {
    ...config,
    node: { ...config.node, dataDir: path(config.node.dataDir) },
    store: { ...config.store, path: path(config.store.path) },
    nats: {
      ...config.nats,
      ...(config.nats.creds === undefined ? {} : { creds: path(config.nats.creds) }),
      ...(tls === undefined ? {} : { tls: { ...tls, ...mapDefined(tls, path) } }),
    },
    agents: Object.fromEntries(Object.entries(config.agents).map(([kind, a]) => [kind, agent(a)])),
    notify: config.notify.map((rule) => ('command' in rule ? { ...rule, command: command(rule.command) } : rule)),
  };
}

function mapDefined<T extends Record<string, string | undefined>>(record: T, fn: (value: string) => string): Partial<T> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) if (value !== undefined) out[key] = fn(value);
  return out as Partial<T>;
}
