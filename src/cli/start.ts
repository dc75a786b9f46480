import { loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { toError } from '../errors.ts';
import { startNode } from '../node/start-node.ts';
import type { CliContext, GlobalOptions } from './context.ts';
import { Exit, reportError } from './output.ts';
import { nodeLogger } from './node-log.ts';
import { checkKinds } from './start-check.ts';
import { exampleInput } from './start-hint.ts';
import { handleStopSignals } from './stop-signals.ts';

/**
 * `reeve start`: one OS process (no wrapper), so SIGTERM sent to the pid an operator sees
 * reaches the node. SIGTERM/SIGINT drain (a second one stops at once), SIGHUP reloads the
 * config (an invalid new config is rejected and the old one stays in force).
 */
export interface StartOptions extends GlobalOptions {
  check?: boolean;
  /** `--inspect`: the config's `inspect.enabled`. */
  inspect?: boolean;
  /** `--inspect-url`: the config's `inspect.url`. */
  inspectUrl?: string;
}

/** The start flags over the config (the flags win; the config stays frozen). */
function withFlags(config: Config, opts: StartOptions): Config {
  if (!opts.inspect && opts.inspectUrl === undefined) return config;
  return Object.freeze({ ...config, inspect: Object.freeze({ ...config.inspect, ...(opts.inspect ? { enabled: true } : {}), ...(opts.inspectUrl ? { url: opts.inspectUrl } : {}) }) });
}

export async function runStart(ctx: CliContext, opts: StartOptions): Promise<number> {
  let loaded;
  try {
    loaded = await ctx.loadConfig(opts);
    loaded = { ...loaded, config: withFlags(loaded.config, opts) };
    // Before claiming: a kind that cannot run is a config error now, not a failed task later.
    if (opts.check !== false) await checkKinds(loaded.config, loaded.file);
  } catch (err) {
    return reportError(ctx.io, err, Boolean(opts.json));
  }
  const { config, file } = loaded;
  const log = nodeLogger(config);
  let node;
  try {
    node = await startNode({ config, log });
  } catch (err) {
    log.error({ err: toError(err) }, 'node failed to start');
    return reportError(ctx.io, err, Boolean(opts.json));
  }
  // On stderr even with --json: the URL carries the token, and stdout is for the one JSON value.
  if (node.dashboardUrl) ctx.io.err(`dashboard: ${node.dashboardUrl}`);
  if (node.inspectUrl) ctx.io.err(`inspect: ${node.inspectUrl}  (createWebSocketReceiver; Stately's web UI: ${node.dashboardUrl?.replace('/#', '/inspect#')})`);
  const kinds = Object.keys(config.agents);
  if (!opts.json) {
    ctx.io.err(
      [
        `reeve node ${node.id} running (${file ?? "no config file: defaults"}; ${node.backend.describe}).`,
        kinds.length ? `kinds: ${kinds.join(', ')}` : 'no agent kinds configured: add some to reeve.config.json',
        `submit from another terminal:  npx reeve submit ${kinds[0] ?? 'KIND'} --input '${exampleInput(kinds[0] === undefined ? undefined : config.agents[kinds[0]])}' --wait`,
        'stop with Ctrl-C (drains in-flight work first).',
      ].join('\n'),
    );
  }
  const unwire = handleStopSignals({
    drain: (signal) => {
      log.info({ signal }, 'draining');
      void node.drain().catch((err: unknown) => log.error({ err }, 'drain failed'));
    },
    stopNow: (signal) => {
      log.info({ signal }, 'stopping now');
      void node.drain(0).catch((err: unknown) => log.error({ err }, 'stop failed'));
    },
    reload: () => {
      loadConfig({ cwd: ctx.cwd, env: ctx.env, checkFiles: true, ...(file ? { configPath: file } : opts.config ? { configPath: opts.config } : {}) })
        .then(async ({ config: next }) => {
          if (opts.check !== false) await checkKinds(next, file);
          node.reconfigure(withFlags(next, opts));
        })
        .catch((err: unknown) => log.error({ err: toError(err) }, 'config reload rejected; the previous config stays in force'));
    },
  });
  const code = await node.done;
  unwire();
  return code === 0 ? Exit.Ok : code;
}
