/**
 * The node's operator surface (HTTP API, metrics, events), as the node sees it: one call before
 * the runtime starts (the metrics port its parts report to) and one once it runs (serve).
 * With `http.port` unset it is free: nothing is loaded, metrics are dropped.
 */
import { withMetrics } from '../actors/observed-store.ts';
import type { Config } from '../config/schema.ts';
import { toError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import type { Logger } from '../ports/logger.ts';
import { noMetrics, type MetricsPort } from '../ports/metrics.ts';
import type { ReeveStore } from '../ports/reeve-store.ts';
import type { SurfaceNode } from './serve-node.ts';

export interface OperatorSurface {
  readonly metrics: MetricsPort;
  /** The node's store, reporting its writes to the metrics. */
  observe(store: ReeveStore): ReeveStore;
  /** Starts the HTTP server; returns its dashboard URL (with the token), or nothing when HTTP is off. */
  serve(node: SurfaceNode): Promise<{ url: string } | undefined>;
  close(): Promise<void>;
}

const off: OperatorSurface = { metrics: noMetrics, observe: (s) => s, serve: async () => undefined, close: async () => undefined };

export async function openOperatorSurface(config: Config, log: Logger, clock: Clock): Promise<OperatorSurface> {
  if (config.http.port === undefined) return off;
  const [{ createNodeMetrics }, { loadOrCreateToken }] = await Promise.all([import('./metrics.ts'), import('./auth.ts')]);
  const metrics = createNodeMetrics();
  const token = await loadOrCreateToken(config.http.token, config.node.dataDir);
  let close = async () => undefined as void;
  return {
    metrics,
    observe: (store) => withMetrics(store, metrics, clock),
    serve: async (node) => {
      const { serveNode } = await import('./serve-node.ts');
      const served = await serveNode({ config, log: log.child({ component: 'http' }), clock, metrics, token, node });
      close = () => served.close();
      return { url: served.url };
    },
    close: () => close().catch((err: unknown) => log.error({ err: toError(err) }, 'error while closing the HTTP server')),
  };
}

