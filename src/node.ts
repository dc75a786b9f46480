/**
 * The composition root: config → adapters → supervision tree. The one module that imports
 * actors and adapters together.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { availableParallelism, hostname } from 'node:os';
import { join } from 'node:path';
import { BreakerBoard } from './actors/breaker-board.ts';
import { Dispatcher } from './actors/dispatcher.ts';
import { PreflightGate } from './actors/preflight-gate.ts';
import type { KindPlan } from './actors/kind-plan.ts';
import { renewLeases } from './actors/lease-keeper.ts';
import { loopChild } from './actors/loop-child.ts';
import { SagaActor } from './actors/saga-actor.ts';
import { sweepStaleLeases, takeBackPreviousIncarnations } from './actors/stale-sweeper.ts';
import { startRootSupervisor, supervisorChild, type ChildSpec, type Supervisor } from './actors/supervisor.ts';
import { WriteBatcher } from './actors/write-batcher.ts';
import type { Config } from './config/schema.ts';
import { toError } from './errors.ts';
import { buildKindPlans } from './node-plans.ts';
import { readOrCreateNodeId } from './node-id.ts';
import type { Clock } from './ports/clock.ts';
import type { Logger } from './ports/logger.ts';
import type { NodeInfo } from './ports/node-registry.ts';
import type { StoredTask } from './ports/task-store.ts';
import type { Timers } from './ports/timers.ts';
import { reapOrphans } from './actors/reaper.ts';
import { CommandRunner } from './pool/command-runner.ts';
import { GitWorktreeRunner, removeWorktree } from './pool/git-worktree.ts';
import { osProcessControl } from './pool/os-process-control.ts';
import { SqliteProcessRegistry } from './store/sqlite/process-registry.ts';
import { CompositeRunner } from './pool/composite-runner.ts';
import { ModuleRunner } from './pool/module-runner.ts';
import { systemClock } from './system-clock.ts';
import { openBackend, type Backend } from './backend.ts';
import { WorkspaceJanitor } from './workspace-janitor.ts';
import { backgroundCounts } from './cluster/beacon-counts.ts';
import { nodeIntake } from './cluster/node-intake.ts';
import { listenForControl } from './cluster/node-control.ts';
import { outageTolerant } from './cluster/outage.ts';
import { startupSteps } from './cluster/jetstream-ready.ts';
import type { ReeveStore } from './ports/reeve-store.ts';
import { openOperatorSurface } from './http/surface.ts';

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
}

/**
 * How stale the dispatcher's view of the breakers may be when no change was announced (changes
 * by other nodes are announced on the bus and invalidate it at once; see BreakerBoard).
 */
const BREAKER_VIEW_MAX_AGE_MS = 250;

/** Restarts of one task's saga actor before the task is given up (see sagaChild). */
const SAGA_RESTARTS = 3;

const realTimers: Timers = { setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

function moduleRunner(config: Config, clock: Clock, log: Logger): ModuleRunner {
  const threads = config.node.threads ?? Math.max(1, Math.min(config.node.concurrency, availableParallelism() * 2));
  const tasksPerThread = config.node.tasksPerThread ?? Math.ceil(config.node.concurrency / threads);
  return new ModuleRunner({ maxThreads: threads, tasksPerThread, clock, log: log.child({ component: 'module-pool' }) });
}

export async function startNode(options: NodeOptions): Promise<ReeveNode> {
  let config = options.config;
  const clock = options.clock ?? systemClock;
  await mkdir(config.node.dataDir, { recursive: true });
  const id = config.node.id ?? (await readOrCreateNodeId(config.node.dataDir));
  const incarnation = `${clock.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const owner = `${id}:${incarnation}`;
  const log = options.log.child({ node: id, incarnation });
  const backend = await openBackend({ config, log, clock, name: owner, role: 'node' });
  // HTTP API and metrics (off, and free, unless http.port is set): the store reports its writes.
  const surface = await openOperatorSurface(config, log, clock);
  const { bus, subjects } = backend;
  const store = surface.observe(backend.store);
  const warnOutage = (component: string) => (err: unknown) => log.warn({ err: toError(err), component }, 'store unreachable; skipping this round');
  const processes = new SqliteProcessRegistry(join(config.node.dataDir, 'processes.db'), clock);
  const control = osProcessControl({ protectedPids: config.node.protectedPids });
  const reap = () =>
    reapOrphans({ registry: processes, control, liveOwners: new Set([owner]), protectedPids: new Set(config.node.protectedPids), graceMs: 2_000, log: log.child({ component: 'reaper' }) }).then((r) => {
      surface.metrics.processesReaped(r.reaped);
      return r;
    });
  const runner = new CompositeRunner(
    moduleRunner(config, clock, log),
    new CommandRunner({
      clock,
      envAllowList: config.node.envAllowList,
      registry: processes,
      owner: { nodeId: id, incarnation },
      protectedPids: config.node.protectedPids,
      logDir: join(config.node.dataDir, 'logs'),
      secrets: config.secrets,
    }),
    new GitWorktreeRunner(),
  );
  let plans: Map<string, KindPlan> = buildKindPlans(config);
  const batcher = new WriteBatcher(store);
  const startedAt = clock.now();
  const crashLimit = (kind: string) => plans.get(kind)?.policy.crashLimit ?? config.node.crashLimit;
  const workspaces = join(config.node.dataDir, 'workspaces');
  const janitor = new WorkspaceJanitor({ root: workspaces, inUse: (taskId) => dispatcher.inFlight.has(taskId), log });

  const breakers = new BreakerBoard({
    store,
    clock,
    log: log.child({ component: 'breakers' }),
    onChange: ({ key, to, openUntil, at }) => bus.publish(subjects.breaker(key), { key, state: to, ...(openUntil === undefined || to !== 'open' ? {} : { openUntil }), node: id, at }),
  });
  // Any message here only makes the next claim round re-read the breakers from the store (the
  // truth), so its body needs no validation; this node's own announcements are skipped.
  const breakerWatch = bus.subscribe(subjects.breakers, (message) => {
    if ((message.data as { node?: unknown } | undefined)?.node !== id) breakers.invalidate();
  });
  const defaultBreaker = { threshold: 5, pauseMs: 60_000, maxPauseMs: 600_000 };
  const breakerSettings = (kind: string) => plans.get(kind)?.breaker ?? defaultBreaker;
  const preflight = new PreflightGate({ runner, clock, log: log.child({ component: 'preflight' }), store, plans: () => plans, workspace: join(config.node.dataDir, 'preflight') });
  let sagas: Supervisor | undefined;
  const dispatcher: Dispatcher = new Dispatcher({
    store,
    owner,
    leaseTtlMs: config.node.leaseTtlMs,
    concurrency: config.node.concurrency,
    plans: () => plans,
    breakers: {
      refresh: () => breakers.refreshIfStale(BREAKER_VIEW_MAX_AGE_MS),
      gates: () => breakers.gates(),
      takeProbe: (task) => breakers.takeProbe(task.breakerKey, task.id, breakerSettings(task.kind)),
    },
    kindReady: (kind) => preflight.ready(kind),
    release: async (task, reason) => {
      await store.transition({ id: task.id, revision: task.revision, owner, to: task.state === 'running' ? 'queued' : task.state, reason, release: true, availableAt: clock.now() });
    },
    log: log.child({ component: 'dispatcher' }),
    startSaga: (task) => {
      const actor = newActor(task);
      const start = sagas ? sagas.startChild(sagaChild(task, actor)) : Promise.reject(new Error('the sagas supervisor is restarting'));
      void start.catch(async (err: unknown) => {
        // Not started: give the lease back now rather than let it expire and count a crash.
        log.error({ err: toError(err), taskId: task.id }, 'could not start saga actor; handing the task back');
        dispatcher.finished(task, actor);
        await store.transition({ id: task.id, revision: task.revision, owner, to: task.state === 'running' ? 'queued' : task.state, reason: 'handed back: saga actor could not start', release: true, availableAt: clock.now() }).catch(() => undefined);
      });
      return actor;
    },
  });

  const actorDeps = () => ({
    store,
    write: (r: Parameters<WriteBatcher['write']>[0]) => batcher.write(r),
    runner,
    owner,
    leaseTtlMs: config.node.leaseTtlMs,
    clock,
    random: Math.random,
    log: log.child({ component: 'saga' }),
    plan: (kind: string) => plans.get(kind),
    onTerminal: (task: StoredTask) => {
      const plan = plans.get(task.kind);
      if (plan?.keepWorkspace) return;
      // A worktree goes through git (its branch stays: it holds the work); a plain dir is
      // removed by the janitor, in batches.
      if (!plan?.repo) return janitor.release(task.id);
      const dir = join(workspaces, task.id);
      void removeWorktree(plan.repo, dir)
        .then(() => rm(dir, { recursive: true, force: true }))
        .catch((err: unknown) => log.warn({ err: toError(err), taskId: task.id }, 'could not remove the workspace'));
    },
    onVerdict: (task: StoredTask, verdict: 'succeeded' | 'transient' | 'permanent' | 'none') => {
      const settings = breakerSettings(task.kind);
      void (verdict === 'none' ? breakers.releaseProbe(task.breakerKey, task.id, settings) : breakers.report(task.breakerKey, task.id, verdict, settings));
    },
    // Module agents create it on first use of ctx.workspace; command runs in CommandRunner.
    workspace: async (taskId: string) => {
      janitor.keep(taskId);
      return join(workspaces, taskId);
    },
  });
  const newActor = (task: StoredTask) => new SagaActor(task, actorDeps());

  /**
   * A saga actor as a transient child: a crash restarts it from the task's persisted snapshot.
   * A task whose actor keeps crashing (a bug, a snapshot it cannot restore) is given up after
   * SAGA_RESTARTS: its lease is released with a crash counted, so the crash limit quarantines
   * it instead of the node renewing its lease forever.
   */
  function sagaChild(task: StoredTask, first: SagaActor): ChildSpec {
    let actor: SagaActor | undefined = first;
    let current: SagaActor = first;
    let starts = 0;
    const end = () => dispatcher.finished(task, current);
    return {
      id: `task:${task.id}:${task.revision}`,
      restart: 'transient',
      start: () => {
        starts++;
        const given = actor;
        actor = undefined;
        const done = (async () => {
          if (given) current = given;
          else {
            const fresh = await store.get(task.id);
            if (!fresh || fresh.owner !== owner || dispatcher.inFlight.get(task.id) !== current) return end();
            if (starts > SAGA_RESTARTS) {
              log.error({ taskId: task.id, restarts: starts - 1 }, 'saga actor keeps crashing; releasing the task with a crash counted');
              await store.requeueStale(task.id, fresh.revision, { crashLimit: crashLimit(task.kind), deadOwner: owner }).catch((err: unknown) => log.error({ err: toError(err), taskId: task.id }, 'could not release the task'));
              return end();
            }
            current = newActor(fresh);
            dispatcher.inFlight.set(task.id, current);
          }
          const how = await current.run();
          log.debug({ taskId: task.id, end: how }, 'saga turn ended');
          end();
        })();
        return {
          done,
          stop: async () => {
            current.handBack('shutdown');
            await done.catch(() => undefined);
          },
        };
      },
    };
  }

  // Cluster nodes report the task counts of their index with each beacon (see beacon-counts.ts).
  const taskCounts = backend.mode === 'cluster' ? backgroundCounts(() => store.countByState(), () => clock.now()) : () => undefined;
  const beacon = async (state: NodeInfo['state']) => {
    const at = clock.now();
    const running = dispatcher.inFlight.size;
    const counts = taskCounts();
    // Core NATS every second for live watchers; the store row for `reeve status` in any process.
    bus.publish(subjects.heartbeat(id), { id, incarnation, state, capacity: config.node.concurrency, running, at, kinds: [...plans.keys()] });
    await store.recordNode({ id, incarnation, state, capacity: config.node.concurrency, running, startedAt, lastSeenAt: at, pid: process.pid, host: hostname(), ...(counts ? { taskCounts: counts } : {}) });
  };

  // Cluster: each start-up store step rides out a NATS failover (bounded, see startupSteps).
  const step = startupSteps(backend.mode, config.nats.startupTimeoutMs, log);
  await step(`recording node ${id}`, () => beacon('up'));
  // Kill what a previous incarnation left running before its tasks run again.
  const reaped = await reap();
  if (reaped.reaped || reaped.skipped.length) log.warn({ ...reaped }, 'reaped orphaned processes at start');
  await step('taking back the tasks of previous incarnations', () => takeBackPreviousIncarnations(store, id, owner, crashLimit, log));

  let exitCode = 0;
  let resolveDone!: (code: number) => void;
  const done = new Promise<number>((resolve) => (resolveDone = resolve));
  const spec = { strategy: 'one_for_one' as const, intensity: { maxRestarts: 10, periodMs: 60_000 }, backoff: { baseMs: 100, maxMs: 5_000 } };
  /** A loop that touches the store: skipped while NATS is unreachable, an outage is not a crash. */
  const storeLoop = (loopId: string, intervalMs: number, tick: () => Promise<void>) =>
    loopChild({ id: loopId, intervalMs, timers: realTimers, tick: outageTolerant(bus, warnOutage(loopId), tick) });
  const intake = nodeIntake({
    backend,
    store,
    dispatcher,
    kinds: () => plans.keys(),
    nodeId: id,
    capacity: config.node.concurrency,
    pollIntervalMs: config.node.pollIntervalMs,
    clock,
    log,
  });
  const root = await startRootSupervisor({
    id: 'root',
    spec,
    log,
    clock,
    timers: realTimers,
    onEscalate: (err) => {
      log.error({ err }, 'supervision tree gave up; shutting the node down');
      exitCode = 1;
      void shutdown();
    },
    children: [
      // Started before the sagas so they stop after them: a run that takes a while to stop on
      // drain keeps its lease (and can write its handback) until it has stopped.
      loopChild({ id: 'lease-keeper', intervalMs: Math.max(100, Math.floor(config.node.leaseTtlMs / 3)), timers: realTimers, tick: () => renewLeases(dispatcher.inFlight, log.child({ component: 'lease-keeper' })) }),
      storeLoop('cancel-watch', Math.max(100, config.node.pollIntervalMs), async () => {
        if (dispatcher.inFlight.size === 0) return;
        for (const { id: taskId, reason } of await store.listCancelRequests(owner)) dispatcher.inFlight.get(taskId)?.requestCancel(reason);
      }),
      supervisorChild({
        id: 'sagas',
        spec: { strategy: 'one_for_one', intensity: { maxRestarts: 50, periodMs: 10_000 }, backoff: { baseMs: 50, maxMs: 2_000 } },
        children: [],
        log,
        clock,
        timers: realTimers,
        onStart: (s) => {
          sagas = s;
        },
      }),
      {
        id: 'dispatcher',
        restart: 'permanent',
        start: () => {
          const controller = new AbortController();
          const claimRound = outageTolerant(bus, warnOutage('dispatcher'), async () => {
            await dispatcher.tick();
          });
          const done = (async () => {
            // Runs until stopped, idle while draining or while NATS is down (claims pause, and
            // resume on reconnect without a restart): a permanent child must not exit on its own.
            while (!controller.signal.aborted) {
              if (!dispatcher.isDraining) await claimRound();
              await dispatcher.waitForWork(config.node.pollIntervalMs, controller.signal);
            }
          })();
          return { done, stop: async () => { controller.abort(); dispatcher.wake(); await done.catch(() => undefined); } };
        },
      },
      ...intake.children,
      storeLoop('stale-sweeper', config.node.sweepIntervalMs, async () => {
        await sweepStaleLeases(store, crashLimit, log.child({ component: 'sweeper' }));
      }),
      loopChild({ id: 'reaper', intervalMs: config.node.reapIntervalMs, timers: realTimers, tick: async () => {
        await reap();
      } }),
      storeLoop('preflight', 1000, () => preflight.tick()),
      storeLoop('beacon', 1000, () => beacon(dispatcher.isDraining ? 'draining' : 'up')),
    ],
  });
  const offStatus = bus.onStatus((status) => {
    log.warn({ status }, status === 'online' ? 'NATS reachable again; claiming resumes' : 'NATS unreachable; claiming paused');
    if (status === 'online') dispatcher.wake();
  });

  let stopping: Promise<void> | undefined;
  let drained: { finished: number; handedBack: number } | undefined;
  let drainStartedWith: number | undefined;
  async function drain(deadlineMs = config.node.drainTimeoutMs): Promise<void> {
    drainStartedWith ??= dispatcher.inFlight.size;
    dispatcher.stopClaiming();
    await beacon('draining').catch(() => undefined);
    const until = clock.now() + deadlineMs;
    while (dispatcher.inFlight.size > 0 && clock.now() < until) await dispatcher.waitForWork(Math.min(200, until - clock.now()));
    const handedBack = dispatcher.inFlight.size;
    for (const actor of dispatcher.inFlight.values()) actor.handBack('drain');
    drained ??= { finished: Math.max(0, drainStartedWith - handedBack), handedBack };
    return shutdown();
  }
  const controlListener = listenForControl({
    bus,
    subjects,
    node: { id, incarnation },
    store,
    clock,
    log: log.child({ component: 'control' }),
    drain: (deadlineMs) => {
      if (stopping || dispatcher.isDraining) return false;
      void drain(deadlineMs);
      return true;
    },
  });
  function shutdown(): Promise<void> {
    stopping ??= (async () => {
      dispatcher.stopClaiming();
      controlListener.unsubscribe();
      breakerWatch.unsubscribe();
      intake.close();
      offStatus();
      await root.stop().catch((err: unknown) => log.error({ err: toError(err) }, 'error while stopping'));
      if (drained) bus.publish(subjects.drained(id), { id, incarnation, ...drained, at: clock.now() });
      // `stopped` reads as drained in `reeve status`; a node whose supervision tree gave up
      // leaves its last beacon, so it shows as dead once that is stale.
      if (exitCode === 0) await beacon('stopped').catch(() => undefined);
      await surface.close();
      await runner.close().catch(() => undefined);
      await janitor.close();
      await processes.close();
      await backend.close().catch((err: unknown) => log.error({ err: toError(err) }, 'error while closing the store'));
      log.info({ exitCode, ...drained }, drained ? 'node drained and stopped' : 'node stopped');
      resolveDone(exitCode);
    })();
    return stopping;
  }

  log.info({ owner, mode: backend.mode, store: backend.describe, kinds: [...plans.keys()], concurrency: config.node.concurrency }, 'node started');
  dispatcher.wake();
  const served = await surface.serve({ id, store, backend, root, inFlight: () => dispatcher.inFlight.size, isDraining: () => dispatcher.isDraining || stopping !== undefined }).catch(async (err: unknown) => {
    await shutdown(); // the port is taken, say: stop what started rather than run without the API asked for
    throw err;
  });
  return {
    ...(served ? { dashboardUrl: served.url } : {}),
    id,
    owner,
    store,
    backend,
    dispatcher,
    done,
    drain,
    reconfigure: (next) => {
      config = next;
      plans = buildKindPlans(next);
      log.info({ kinds: [...plans.keys()] }, 'configuration reloaded');
    },
  };
}
