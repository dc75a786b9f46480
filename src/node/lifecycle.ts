import { hostname } from 'node:os';
import { backgroundCounts } from '../actors/beacon-counts.ts';
import type { Dispatcher } from '../actors/dispatcher.ts';
import { listenForControl } from '../actors/node-control.ts';
import { listenForTaskControl } from '../actors/task-control.ts';
import { takeBackPreviousIncarnations } from '../actors/stale-sweeper.ts';
import type { ReapReport } from '../actors/reaper.ts';
import { startupSteps } from '../cluster/jetstream-ready.ts';
import { toError } from '../errors.ts';
import type { Logger } from '../ports/logger.ts';
import type { NodeInfo } from '../ports/node-registry.ts';
import type { Backend } from './backend.ts';
import type { LiveConfig } from './live-config.ts';
import type { Releasers } from './releasers.ts';
import type { Clock } from '../ports/clock.ts';
import type { ReeveStore } from '../ports/reeve-store.ts';

export interface NodeLifecycleDeps {
  id: string;
  incarnation: string;
  owner: string;
  backend: Pick<Backend, 'mode' | 'bus' | 'subjects' | 'watchForeignWrites'>;
  /** The node's store (the backend's, observed by the metrics). */
  store: ReeveStore;
  live: LiveConfig;
  dispatcher: Dispatcher;
  releasers: Releasers;
  clock: Clock;
  log: Logger;
  /** What the heartbeat adds (the inspector relay's URL, once it serves one). */
  heartbeat?: () => { inspect?: string };
}

/**
 * A node's life: its beacon, coming up (recording itself, taking back what a previous
 * incarnation held), answering drain requests, draining and stopping. Stopping releases
 * everything the node registered (see Releasers), then resolves `done` with the exit code.
 */
export class NodeLifecycle {
  readonly done: Promise<number>;
  readonly #startedAt: number;
  readonly #taskCounts: () => Partial<Record<string, number>> | undefined;
  #resolveDone!: (code: number) => void;
  #exitCode = 0;
  #stopping: Promise<void> | undefined;
  #drained: { finished: number; handedBack: number } | undefined;
  #drainStartedWith: number | undefined;

  constructor(private readonly deps: NodeLifecycleDeps) {
    this.done = new Promise<number>((resolve) => (this.#resolveDone = resolve));
    this.#startedAt = deps.clock.now();
    const { store, clock } = deps;
    // Cluster nodes report the task counts of their index with each beacon (see actors/beacon-counts.ts).
    this.#taskCounts = deps.backend.mode === 'cluster' ? backgroundCounts(() => store.countByState(), () => clock.now()) : () => undefined;
  }

  /** True once the node has begun to stop. */
  get stopping(): boolean {
    return this.#stopping !== undefined;
  }

  /** Core NATS every second for live watchers; the store row for `reeve status` in any process. */
  async beacon(state: NodeInfo['state']): Promise<void> {
    const { id, incarnation, store, clock, live, dispatcher } = this.deps;
    const { bus, subjects } = this.deps.backend;
    const at = clock.now();
    const capacity = live.config.node.concurrency;
    const running = dispatcher.inFlight.size;
    const counts = this.#taskCounts();
    bus.publish(subjects.heartbeat(id), { id, incarnation, state, capacity, running, at, kinds: [...live.plans.keys()], ...this.deps.heartbeat?.() });
    await store.recordNode({ id, incarnation, state, capacity, running, startedAt: this.#startedAt, lastSeenAt: at, pid: process.pid, host: hostname(), ...(counts ? { taskCounts: counts } : {}) });
  }

  /**
   * Records the node as up, kills what a previous incarnation left running (`reap`) before its
   * tasks run again, and takes those tasks back. In a cluster each store step rides out a NATS
   * failover (bounded, see startupSteps).
   */
  async comeUp(reap: () => Promise<ReapReport>): Promise<void> {
    const { id, owner, store, live, log } = this.deps;
    const step = startupSteps(this.deps.backend.mode, live.config.nats.startupTimeoutMs, log);
    await step(`recording node ${id}`, () => this.beacon('up'));
    const reaped = await reap();
    if (reaped.reaped || reaped.skipped.length) log.warn({ ...reaped }, 'reaped orphaned processes at start');
    await step('taking back the tasks of previous incarnations', () => takeBackPreviousIncarnations(store, id, owner, (kind) => live.crashLimit(kind), log));
    // Registered now, so it runs once everything started after this (the supervision tree) has stopped.
    this.deps.releasers.defer('stopped beacon', () => this.#announceStopped());
  }

  /** Answers drain requests and operator decisions over the bus, and reports NATS going and coming back. */
  listen(): void {
    const { id, incarnation, store, clock, log, dispatcher, releasers } = this.deps;
    const { bus, subjects } = this.deps.backend;
    const offStatus = bus.onStatus((status) => {
      log.warn({ status }, status === 'online' ? 'NATS reachable again; claiming resumes' : 'NATS unreachable; claiming paused');
      if (status === 'online') dispatcher.wake();
    });
    releasers.defer('NATS status watch', offStatus);
    // Embedded: a task submitted (retried, approved) by another process starts without waiting for the poll.
    const offForeignWrites = this.deps.backend.watchForeignWrites?.(() => dispatcher.wake(), () => dispatcher.inFlight.size < this.deps.live.config.node.concurrency);
    if (offForeignWrites) releasers.defer('store write watch', offForeignWrites);
    const control = listenForControl({
      bus,
      subjects,
      node: { id, incarnation },
      store,
      clock,
      log: log.child({ component: 'control' }),
      drain: (deadlineMs) => {
        if (this.#stopping || dispatcher.isDraining) return false;
        void this.drain(deadlineMs).catch((err: unknown) => log.error({ err: toError(err) }, 'drain failed'));
        return true;
      },
    });
    releasers.defer('control listener', () => control.unsubscribe());
    // Operator decisions on tasks (<prefix>.control.task.<id>), one node per request.
    const decisions = listenForTaskControl({ bus, subjects, store, clock, log: log.child({ component: 'task-control' }) });
    releasers.defer('task control listener', () => decisions.unsubscribe());
  }

  /** Stop claiming, finish in-flight work up to `deadlineMs`, hand back the rest, stop. */
  async drain(deadlineMs = this.deps.live.config.node.drainTimeoutMs): Promise<void> {
    const { dispatcher, clock } = this.deps;
    this.#drainStartedWith ??= dispatcher.inFlight.size;
    dispatcher.stopClaiming();
    await this.beacon('draining').catch(() => undefined);
    const until = clock.now() + deadlineMs;
    while (dispatcher.inFlight.size > 0 && clock.now() < until) await dispatcher.waitForWork(Math.min(200, until - clock.now()));
    const handedBack = dispatcher.inFlight.size;
    for (const actor of dispatcher.inFlight.values()) actor.handBack('drain');
    this.#drained ??= { finished: Math.max(0, this.#drainStartedWith - handedBack), handedBack };
    return this.shutdown();
  }

  /** The supervision tree gave up: stop, and exit 1. */
  escalated(err: Error): void {
    this.deps.log.error({ err }, 'supervision tree gave up; shutting the node down');
    this.#exitCode = 1;
    void this.shutdown().catch((e: unknown) => this.deps.log.error({ err: toError(e) }, 'shutdown failed'));
  }

  /** Stops claiming and releases everything the node holds, last acquired first. Idempotent. */
  shutdown(): Promise<void> {
    this.#stopping ??= (async () => {
      this.deps.dispatcher.stopClaiming();
      await this.deps.releasers.releaseAll();
      const drained = this.#drained;
      this.deps.log.info({ exitCode: this.#exitCode, ...drained }, drained ? 'node drained and stopped' : 'node stopped');
      this.#resolveDone(this.#exitCode);
    })();
    return this.#stopping;
  }

  async #announceStopped(): Promise<void> {
    const { id, incarnation, clock } = this.deps;
    const { bus, subjects } = this.deps.backend;
    if (this.#drained) bus.publish(subjects.drained(id), { id, incarnation, ...this.#drained, at: clock.now() });
    // `stopped` reads as drained in `reeve status`; a node whose supervision tree gave up
    // leaves its last beacon, so it shows as dead once that is stale. Best effort: with the
    // store unreachable the row goes stale and reads as dead all the same.
    if (this.#exitCode === 0) await this.beacon('stopped').catch(() => undefined);
  }
}
