/**
 * The composition root: config → adapters → supervision tree. src/node/ is the one folder that
 * imports actors and adapters together; this file only wires its parts, in start-up order.
 * Each resource registers its release as it is acquired (Releasers), so stopping is this order
 * backwards.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Dispatcher } from '../actors/dispatcher.ts';
import { PreflightGate } from '../actors/preflight-gate.ts';
import { redactingLogger } from '../actors/redacting-logger.ts';
import type { Config } from '../config/schema.ts';
import { openOperatorSurface } from '../http/surface.ts';
import { realTimers, systemClock } from '../platform/system-clock.ts';
import type { Clock } from '../ports/clock.ts';
import type { Logger } from '../ports/logger.ts';
import { createSecretRedactor } from '../protocol/secret-redactor.ts';
import type { ReeveStore } from '../ports/reeve-store.ts';
import type { Backend } from './backend.ts';
import { nodeBreakers } from './breakers.ts';
import { handBackWith, nodeDispatcher } from './dispatch.ts';
import { warnUntimedKinds } from './kind-plans.ts';
import { nodeIntake } from './intake.ts';
import { NodeLifecycle } from './lifecycle.ts';
import { LiveConfig } from './live-config.ts';
import { newIncarnation, readOrCreateNodeId } from './node-id.ts';
import { openBackend } from './open-backend.ts';
import { openProcessRegistry, reapOnce } from './processes.ts';
import { Releasers } from './releasers.ts';
import { nodeRunner } from './runner.ts';
import { NodeSagas } from './sagas.ts';
import { startNodeTree } from './tree.ts';
import { nodeWorkspaces } from './workspaces.ts';
import { wireNotifications } from './notifications.ts';

export interface NodeOptions {
  config: Config;
  log: Logger;
  clock?: Clock;
}

export interface ReeveNode {
  readonly id: string;
  readonly owner: string;
  readonly store: ReeveStore;
  /** How this node reaches the others (in-process in embedded mode). */
  readonly backend: Backend;
  readonly dispatcher: Dispatcher;
  /** Resolves with the process exit code once the node has stopped (0 clean, 1 escalated). */
  readonly done: Promise<number>;
  /** Stop claiming, finish in-flight work up to `deadlineMs`, hand back the rest, stop. */
  drain(deadlineMs?: number): Promise<void>;
  /** Replaces the kinds' configuration for the next attempts (SIGHUP reload). */
  reconfigure(config: Config): void;
  /** The dashboard URL (with its token) when `http.port` is set. */
  readonly dashboardUrl?: string;
  /** The XState inspector relay (`ws://HOST:PORT/inspect`) with `inspect` on. */
  readonly inspectUrl?: string;
}

export async function startNode(options: NodeOptions): Promise<ReeveNode> {
  const live = new LiveConfig(options.config);
  const clock = options.clock ?? systemClock;
  const { dataDir } = live.config.node;
  await mkdir(dataDir, { recursive: true });
  const id = live.config.node.id ?? (await readOrCreateNodeId(dataDir));
  const incarnation = newIncarnation(clock.now());
  // Secrets are redacted from every line the node logs, whatever logger it was given.
  const log = redactingLogger(options.log, createSecretRedactor(live.config.secrets)).child({ node: id, incarnation });
  const releasers = new Releasers(log);
  try {
    return await wireNode({ live, clock, id, incarnation, owner: `${id}:${incarnation}`, log, releasers });
  } catch (err) {
    await releasers.releaseAll(); // a node that cannot start leaves nothing open behind it
    throw err;
  }
}

async function wireNode(n: { live: LiveConfig; clock: Clock; id: string; incarnation: string; owner: string; log: Logger; releasers: Releasers }): Promise<ReeveNode> {
  const { live, clock, id, owner, log, releasers } = n;
  const { config } = live;
  const backend = await openBackend({ config, log, clock, name: owner, role: 'node' });
  releasers.defer('backend', () => backend.close());
  // HTTP API and metrics (off, and free, unless http.port is set): the store reports its writes.
  const surface = await openOperatorSurface(config, log, clock);
  releasers.defer('operator surface', () => surface.close());
  const store = surface.observe(backend.store);
  // Notifications (issue 14): what the store records, the delivery loop, the dead-node watch.
  const notifications = wireNotifications({ config, store, id, incarnation: n.incarnation, owner, clock, log, metrics: surface.metrics });
  // Live state (inspect on; a no-op port otherwise): actors report under the root's session.
  const inspect = { port: surface.inspection, root: `reeve:${id}:root` };
  const processes = openProcessRegistry(config.node.dataDir, clock);
  releasers.defer('process registry', () => processes.close());
  const reap = () =>
    reapOnce(processes, { protectedPids: live.config.node.protectedPids, liveOwners: new Set([owner]), log: log.child({ component: 'reaper' }) }).then((r) => {
      surface.metrics.processesReaped(r.reaped);
      return r;
    });
  const runner = nodeRunner({ config, clock, log, registry: processes, owner: { nodeId: id, incarnation: n.incarnation } });
  releasers.defer('runners', () => runner.close().catch(() => undefined)); // a worker pool that will not close is no reason to stop the rest
  const workspaces = nodeWorkspaces({ dataDir: config.node.dataDir, inUse: (taskId) => dispatcher.inFlight.has(taskId), plan: (kind) => live.plan(kind), log });
  releasers.defer('workspaces', () => workspaces.close());
  const { bus, subjects } = backend;
  const breakers = nodeBreakers({ store, bus, subjects, nodeId: id, settings: (kind) => live.breaker(kind), clock, log, releasers, inspect });
  const preflight = new PreflightGate({ runner, clock, log: log.child({ component: 'preflight' }), store, plans: () => live.plans, workspace: join(config.node.dataDir, 'preflight') });
  const handBack = handBackWith(store, owner, clock);
  const dispatcher = nodeDispatcher({ store, owner, live, breakers, preflight, handBack, startSaga: (task) => sagas.start(task), log });
  const sagas = new NodeSagas({ store, owner, live, runner, workspaces, breakers, dispatcher: () => dispatcher, handBack, clock, timers: realTimers, log, inspection: inspect.port });
  const lifecycle = new NodeLifecycle({ id, incarnation: n.incarnation, owner, backend, store, live, dispatcher, releasers, clock, log, heartbeat: () => surface.heartbeat() });
  await notifications.beforeFirstBeacon();
  await lifecycle.comeUp(reap);
  const intake = nodeIntake({ backend, store, dispatcher, kinds: () => live.plans.keys(), nodeId: id, capacity: config.node.concurrency, pollIntervalMs: config.node.pollIntervalMs, clock, log });
  releasers.defer('intake', () => intake.close());
  const tree = { live, store, bus, owner, dispatcher, sagas: sagas.supervisor(), intake: intake.children, loops: notifications.loops(), preflight, reap, clock, log };
  const root = await startNodeTree({ ...tree, inspect, beacon: () => lifecycle.beacon(dispatcher.isDraining ? 'draining' : 'up'), onEscalate: (err) => lifecycle.escalated(err) });
  releasers.defer('supervision tree', () => root.stop());
  lifecycle.listen();

  log.info({ owner, mode: backend.mode, store: backend.describe, kinds: [...live.plans.keys()], concurrency: config.node.concurrency }, 'node started');
  warnUntimedKinds(config, log);
  dispatcher.wake();
  const served = await surface.serve({ id, store, backend, root, inFlight: () => dispatcher.inFlight.size, isDraining: () => dispatcher.isDraining || lifecycle.stopping }).catch(async (err: unknown) => {
    await lifecycle.shutdown(); // the port is taken, say: stop what started rather than run without the API asked for
    throw err;
  });
  return {
    ...(served ? { dashboardUrl: served.url } : {}),
    ...(served?.inspectUrl ? { inspectUrl: served.inspectUrl } : {}),
    id,
    owner,
    store,
    backend,
    dispatcher,
    done: lifecycle.done,
    drain: (deadlineMs) => lifecycle.drain(deadlineMs),
    reconfigure: (next) => {
      live.reload(next);
      notifications.reconfigure(next);
      log.info({ kinds: [...live.plans.keys()] }, 'configuration reloaded');
      warnUntimedKinds(next, log);
    },
  };
}
