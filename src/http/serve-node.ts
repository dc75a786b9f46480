import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { toError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import type { Logger } from '../ports/logger.ts';
import type { TaskState } from '../protocol/task-states.ts';
import { freshestCounts } from '../views/status-report.ts';
import { authPolicy } from './auth.ts';
import type { NodeInspector } from './inspect/open-inspector.ts';
import { EventFeed } from './event-feed.ts';
import type { NodeMetrics } from './metrics.ts';
import { startHttpServer, type Readiness } from './server.ts';
import type { Supervisor } from '../actors/supervisor.ts';
import type { Backend } from '../node/backend.ts';
import type { ReeveStore } from '../ports/reeve-store.ts';

/** Embedded `reeve_tasks` counts are re-counted at most this often, however often Prometheus scrapes. */
const COUNT_MAX_AGE_MS = 5_000;
const STORE_PROBE_TIMEOUT_MS = 2_000;
/** Embedded mode: how often the event feed re-reads the newest tasks for other processes' changes. */
const FOLLOW_STORE_MS = 500;

/** What the HTTP server needs of a running node. */
export interface SurfaceNode {
  id: string;
  store: ReeveStore;
  backend: Backend;
  root: Supervisor;
  inFlight(): number;
  isDraining(): boolean;
}

export interface ServeNodeOptions {
  config: Config;
  log: Logger;
  clock: Clock;
  metrics: NodeMetrics;
  token: string;
  node: SurfaceNode;
  /** Inspection on: the `/inspect` relay and bridge page are served too. */
  inspector?: NodeInspector;
}

export async function serveNode({ config, log, clock, metrics, token, node, inspector }: ServeNodeOptions): Promise<{ url: string; inspectUrl?: string; close(): Promise<void> }> {
  const { store, backend } = node;
  const cluster = backend.mode === 'cluster';
  const counts = cachedCounts(() => store.countByState(), () => clock.now());
  metrics.attach({
    taskCounts: async () => (cluster ? (freshestCounts(await store.listNodes(), clock.now())?.taskCounts ?? {}) : counts()),
    breakers: async () =>
      (await store.listBreakers()).map((b) => ({ key: b.key, state: b.state === 'open' && b.openUntil !== undefined && clock.now() >= b.openUntil ? ('halfOpen' as const) : b.state })),
    supervisorRestarts: () => Object.fromEntries(Object.entries(node.root.metrics()).map(([child, m]) => [child, m.restarts])),
    deadLetters: async () => (await store.listDeadLetters(1))[0]?.seq ?? 0,
    notifications: () => store.notificationCounts(),
    slots: () => ({ busy: node.inFlight(), free: Math.max(0, config.node.concurrency - node.inFlight()) }),
    ...(cluster ? { natsConnected: () => backend.bus.status === 'online' } : {}),
  });
  let rootEnded = false;
  node.root.done.then(
    () => (rootEnded = true),
    () => (rootEnded = true),
  );
  const readiness = async (): Promise<Readiness> => {
    if (node.isDraining()) return { ready: false, reason: 'draining' };
    if (rootEnded) return { ready: false, reason: 'stopping: the supervision tree has stopped' };
    if (node.root.restartsPending > 0) return { ready: false, reason: `restarting ${node.root.restartsPending} supervised loop(s)` };
    if (cluster && backend.bus.status !== 'online') return { ready: false, reason: 'NATS unreachable' };
    try {
      await withTimeout(store.get('readyz-probe'), STORE_PROBE_TIMEOUT_MS);
    } catch (err) {
      return { ready: false, reason: `store unreachable: ${toError(err).message}` };
    }
    return { ready: true };
  };
  const feed = new EventFeed({ bus: backend.bus, subjects: backend.subjects, store, ...(cluster ? {} : { followStoreMs: FOLLOW_STORE_MS }), log });
  const auth = authPolicy({ token, host: config.http.host, allowedHosts: config.http.allowedHosts });
  const relayOn = inspector !== undefined && config.inspect.enabled;
  const server = await startHttpServer({
    host: config.http.host,
    port: config.http.port ?? 0,
    auth,
    api: { store, backend, config, clock, logDir: join(config.node.dataDir, 'logs'), supervision: () => node.root.tree(), ...(inspector ? { inspection: inspector.inspection } : {}) },
    inspectPage: relayOn,
    feed,
    metrics,
    readiness,
    log,
    version: packageVersion(),
  });
  const shownHost = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host.includes(':') ? `[${config.http.host}]` : config.http.host;
  const base = `http://${shownHost}:${server.port}`;
  log.info({ url: base, host: config.http.host, port: server.port }, 'HTTP API and dashboard listening');
  const close = () => server.close();
  // The inspector's own close (surface.ts) ends the relay's connections, which the server no longer tracks.
  inspector?.attach(server.server, auth, metrics.inspect());
  if (!relayOn) return { url: `${base}/#token=${token}`, close };
  // Off loopback a receiver needs the token, and can only pass it in the URL.
  const inspectUrl = `${base.replace(/^http/, 'ws')}${inspector.path}${auth.readsNeedToken ? `?token=${encodeURIComponent(token)}` : ''}`;
  log.info({ url: inspectUrl.split('?')[0] }, 'XState inspector relay listening');
  return { url: `${base}/#token=${token}`, inspectUrl, close };
}

function cachedCounts(count: () => Promise<Partial<Record<TaskState, number>>>, now: () => number): () => Promise<Partial<Record<TaskState, number>>> {
  let last: { at: number; counts: Promise<Partial<Record<TaskState, number>>> } | undefined;
  return () => {
    if (!last || now() - last.at > COUNT_MAX_AGE_MS) {
      const counts = count();
      last = { at: now(), counts };
      counts.catch(() => (last = undefined));
    }
    return last.counts;
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return '0.0.0';
  }
}
