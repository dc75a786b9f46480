/**
 * The node's operator surface (HTTP API, metrics, events), as the node sees it: one call before
 * the runtime starts (the metrics port its parts report to) and one once it runs (serve).
 * With `http.port` unset it is free: nothing is loaded, metrics are dropped.
 */
import { hostname } from 'node:os';
import { withMetrics } from '../actors/observed-store.ts';
import type { Config } from '../config/schema.ts';
import { toError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import { noInspection, type Inspection } from '../ports/inspection.ts';
import type { Logger } from '../ports/logger.ts';
import { noMetrics, type MetricsPort } from '../ports/metrics.ts';
import type { ReeveStore } from '../ports/reeve-store.ts';
import type { NodeInspector } from './inspect/open-inspector.ts';
import type { SurfaceNode } from './serve-node.ts';

export interface OperatorSurface {
  readonly metrics: MetricsPort;
  /** Where actors report live state (`noInspection` unless `inspect` is on). */
  readonly inspection: Inspection;
  /** The node's store, reporting its writes to the metrics. */
  observe(store: ReeveStore): ReeveStore;
  /** What the node's heartbeat says of the surface: its inspector relay, once it serves one. */
  heartbeat(): { inspect?: string };
  /** Starts the HTTP server; returns its dashboard URL (with the token), or nothing when HTTP is off. */
  serve(node: SurfaceNode): Promise<{ url: string; inspectUrl?: string } | undefined>;
  close(): Promise<void>;
}

const none = {};
const off: OperatorSurface = { metrics: noMetrics, inspection: noInspection, observe: (s) => s, heartbeat: () => none, serve: async () => undefined, close: async () => undefined };

export async function openOperatorSurface(config: Config, log: Logger, clock: Clock): Promise<OperatorSurface> {
  // Inspection off: not even @statelyai/inspect is loaded.
  const inspector: NodeInspector | undefined =
    config.inspect.enabled || config.inspect.url !== undefined ? await (await import('./inspect/open-inspector.ts')).openInspector(config, log.child({ component: 'inspect' })) : undefined;
  // `--inspect` needs the HTTP server for its relay: on a free loopback port unless one is set.
  if (config.http.port === undefined && !config.inspect.enabled) {
    return inspector ? { ...off, inspection: inspector.inspection, close: async () => inspector.close() } : off;
  }
  const [{ createNodeMetrics }, { loadOrCreateToken }] = await Promise.all([import('./metrics.ts'), import('./auth.ts')]);
  const metrics = createNodeMetrics();
  const token = await loadOrCreateToken(config.http.token, config.node.dataDir);
  let close = async () => undefined as void;
  let relay: { inspect: string } | undefined;
  return {
    heartbeat: () => relay ?? none,
    metrics,
    inspection: inspector?.inspection ?? noInspection,
    observe: (store) => withMetrics(store, metrics, clock),
    serve: async (node) => {
      const { serveNode } = await import('./serve-node.ts');
      const served = await serveNode({ config, log: log.child({ component: 'http' }), clock, metrics, token, node, ...(inspector ? { inspector } : {}) });
      close = () => served.close();
      // Without its token: the heartbeat goes to every subscriber of the bus. Bound to every
      // interface, the node is named by its host name for the other machines.
      const wildcard = config.http.host === '0.0.0.0' || config.http.host === '::';
      if (served.inspectUrl) relay = { inspect: (wildcard ? served.inspectUrl.replace('//127.0.0.1:', `//${hostname()}:`) : served.inspectUrl).split('?')[0]! };
      return { url: served.url, ...(served.inspectUrl ? { inspectUrl: served.inspectUrl } : {}) };
    },
    close: async () => {
      inspector?.close();
      await close().catch((err: unknown) => log.error({ err: toError(err) }, 'error while closing the HTTP server'));
    },
  };
}

