/**
 * Inspection as the node's operator surface opens it (only with `inspect` on: this module and
 * @statelyai/inspect are imported lazily): the port the actors report to, the pusher to
 * `inspect.url` at once, and the `/inspect` relay once the HTTP server listens.
 */
import type { Server } from 'node:http';
import type { Config } from '../../config/schema.ts';
import type { Inspection } from '../../ports/inspection.ts';
import type { Logger } from '../../ports/logger.ts';
import type { AuthPolicy } from '../auth.ts';
import { InspectionHub } from './hub.ts';
import { createNodeInspection } from './node-inspection.ts';
import { startPusher, type Pusher } from './pusher.ts';
import { attachRelay, INSPECT_PATH, type Relay } from './relay.ts';
import { loadWs } from './ws.ts';

/** Where the relay reports drops and receivers (Prometheus, when HTTP is on). */
export interface InspectMetrics {
  inspectDropped(sink: 'relay' | 'push'): void;
  inspectReceivers(count: number): void;
}

export interface NodeInspector {
  readonly inspection: Inspection;
  readonly hub: InspectionHub;
  /** The relay's path on the HTTP server (`/inspect`). */
  readonly path: string;
  /** Serves the `/inspect` relay on the node's HTTP server (when `inspect.enabled`). */
  attach(server: Server, auth: AuthPolicy, metrics?: InspectMetrics): void;
  /** Ends the relay's connections and the pusher. */
  close(): void;
}

export async function openInspector(config: Config, log: Logger): Promise<NodeInspector> {
  const ws = await loadWs();
  const hub = new InspectionHub();
  const inspection = createNodeInspection({ hub, maxContextBytes: config.inspect.maxContextBytes, secrets: config.secrets, log });
  let metrics: InspectMetrics | undefined;
  let relay: Relay | undefined;
  const url = config.inspect.url;
  const pusher: Pusher | undefined = url
    ? startPusher({ url, ws, hub, bufferMessages: config.inspect.bufferMessages, onDrop: () => metrics?.inspectDropped('push'), log })
    : undefined;
  if (url) log.info({ url }, 'pushing inspection events to an outside relay');
  return {
    inspection,
    hub,
    path: INSPECT_PATH,
    attach(server, auth, m) {
      metrics = m;
      if (!config.inspect.enabled) return;
      relay = attachRelay({
        server,
        ws,
        hub,
        auth,
        bufferMessages: config.inspect.bufferMessages,
        onDrop: () => metrics?.inspectDropped('relay'),
        onReceivers: (n) => metrics?.inspectReceivers(n),
        log,
      });
    },
    close() {
      relay?.close();
      pusher?.close();
    },
  };
}
