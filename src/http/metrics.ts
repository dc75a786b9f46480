import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { MetricsPort } from '../ports/metrics.ts';
import type { InspectMetrics } from './inspect/open-inspector.ts';
import type { TaskState } from '../protocol/task-states.ts';

/** What a scrape reads from the node at scrape time (cheap reads only: no task is scanned). */
export interface MetricsSources {
  /** Tasks by state: the store's cached counts (embedded) or the freshest beacon's (cluster). */
  taskCounts(): Promise<Partial<Record<TaskState, number>>>;
  breakers(): Promise<Array<{ key: string; state: 'closed' | 'open' | 'halfOpen' }>>;
  /** Restarts so far by child of the root supervisor (monotonic). */
  supervisorRestarts(): Record<string, number>;
  /** Highest dead-letter number so far: every letter ever received (purges do not lower it). */
  deadLetters(): Promise<number>;
  slots(): { busy: number; free: number };
  /** Cluster mode only: whether the NATS connection is up. */
  natsConnected?(): boolean;
  /** Notifications waiting for delivery and given up (the store's outbox). */
  notifications?(): Promise<{ pending: number; failed: number }>;
}

const BREAKER_VALUE = { closed: 0, halfOpen: 1, open: 2 } as const;
/** Agent runs last from seconds to hours. */
const RUN_BUCKETS = [0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 7200];
const WAIT_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 1800];

export interface NodeMetrics extends MetricsPort {
  /**
   * Registers the inspector's series (only a node with inspection on has them):
   * `reeve_inspect_dropped_total{sink}` and `reeve_inspect_receivers`.
   */
  inspect(): InspectMetrics;
  readonly registry: Registry;
  /** Sources are known once the node has started; scrapes before that show only counters. */
  attach(sources: MetricsSources): void;
  /** The Prometheus text exposition. */
  render(): Promise<string>;
  readonly contentType: string;
}

/** A registry of its own (not prom-client's global one), so two nodes in one process do not clash. */
export function createNodeMetrics(): NodeMetrics {
  const registry = new Registry();
  let sources: MetricsSources | undefined;
  collectDefaultMetrics({ register: registry, prefix: 'reeve_' });
  const transitions = new Counter({ name: 'reeve_task_transitions_total', help: 'Task state changes written by this node', labelNames: ['kind', 'to'], registers: [registry] });
  const failures = new Counter({ name: 'reeve_attempt_failures_total', help: 'Failed attempts by class', labelNames: ['kind', 'class'], registers: [registry] });
  const runs = new Histogram({ name: 'reeve_run_duration_seconds', help: 'Run time of attempts, claim to outcome', labelNames: ['kind'], buckets: RUN_BUCKETS, registers: [registry] });
  const waits = new Histogram({ name: 'reeve_queue_wait_seconds', help: 'Time from claimable to claimed', labelNames: ['kind'], buckets: WAIT_BUCKETS, registers: [registry] });
  const leases = new Counter({ name: 'reeve_leases_lost_total', help: 'Expired leases taken back (crashed or hung owners)', registers: [registry] });
  const reaped = new Counter({ name: 'reeve_processes_reaped_total', help: 'Leftover process trees killed by the reaper', registers: [registry] });
  let inspectSeries: InspectMetrics | undefined;
  const notifications = new Counter({ name: 'reeve_notifications_total', help: 'Notification delivery rounds run by this node, by event and outcome (delivered, retried, failed: given up)', labelNames: ['event', 'outcome'], registers: [registry] });
  registerScraped(registry, () => sources);
  return {
    registry,
    contentType: registry.contentType,
    attach: (s) => {
      sources = s;
      if (!s.natsConnected) registry.removeSingleMetric('reeve_nats_connected');
    },
    render: () => registry.metrics(),
    taskTransition: (kind, _from, to) => transitions.inc({ kind, to }),
    attemptFailed: (kind, failureClass) => failures.inc({ kind, class: failureClass }),
    runFinished: (kind, seconds) => runs.observe({ kind }, seconds),
    queueWait: (kind, seconds) => waits.observe({ kind }, seconds),
    leaseLost: () => leases.inc(),
    processesReaped: (count) => {
      if (count > 0) reaped.inc(count);
    },
    inspect: () => (inspectSeries ??= inspectMetrics(registry)),
    notification: (event, outcome) => notifications.inc({ event, outcome }),
  };
}

function inspectMetrics(registry: Registry): InspectMetrics {
  const dropped = new Counter({ name: 'reeve_inspect_dropped_total', help: 'Inspection messages dropped, oldest first, for a receiver that did not keep up', labelNames: ['sink'], registers: [registry] });
  const receivers = new Gauge({ name: 'reeve_inspect_receivers', help: 'Receivers connected to the /inspect relay', registers: [registry] });
  for (const sink of ['relay', 'push']) dropped.inc({ sink }, 0);
  receivers.set(0);
  return { inspectDropped: (sink) => dropped.inc({ sink }), inspectReceivers: (count) => receivers.set(count) };
}

/** The metrics read from the node at scrape time (from its sources, once they are attached). */
function registerScraped(registry: Registry, attached: () => MetricsSources | undefined): void {
  const restartsSeen = new Map<string, number>();
  new Counter({
    name: 'reeve_supervisor_restarts_total',
    help: 'Restarts of the root supervisor children',
    labelNames: ['child'],
    registers: [registry],
    collect() {
      for (const [child, total] of Object.entries(attached()?.supervisorRestarts() ?? {})) {
        const delta = total - (restartsSeen.get(child) ?? 0);
        if (delta > 0) this.inc({ child }, delta);
        else if (!restartsSeen.has(child)) this.inc({ child }, 0);
        restartsSeen.set(child, total);
      }
    },
  });
  let deadSeen = 0;
  new Counter({
    name: 'reeve_dead_letters_total',
    help: 'Dead letters received (cluster-wide: read from the store)',
    registers: [registry],
    async collect() {
      const total = (await attached()?.deadLetters().catch(() => undefined)) ?? deadSeen;
      if (total > deadSeen) this.inc(total - deadSeen);
      deadSeen = Math.max(deadSeen, total);
    },
  });
  new Gauge({
    name: 'reeve_tasks',
    help: 'Tasks by state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const sources = attached();
      if (!sources) return;
      const counts = await sources.taskCounts().catch(() => undefined);
      if (!counts) return;
      this.reset();
      for (const [state, n] of Object.entries(counts)) this.set({ state }, n ?? 0);
    },
  });
  new Gauge({
    name: 'reeve_breaker_state',
    help: 'Circuit breakers: 0 closed, 1 half-open, 2 open',
    labelNames: ['key'],
    registers: [registry],
    async collect() {
      const sources = attached();
      if (!sources) return;
      const breakers = await sources.breakers().catch(() => undefined);
      if (!breakers) return;
      this.reset();
      for (const b of breakers) this.set({ key: b.key }, BREAKER_VALUE[b.state]);
    },
  });
  new Gauge({
    name: 'reeve_slots',
    help: 'Run slots of this node',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const sources = attached();
      if (!sources) return;
      const { busy, free } = sources.slots();
      this.set({ state: 'busy' }, busy);
      this.set({ state: 'free' }, free);
    },
  });
  registerOutboxGauge(registry, attached);
  new Gauge({
    name: 'reeve_nats_connected',
    help: 'Cluster mode: 1 while the NATS connection is up',
    registers: [registry],
    collect() {
      const sources = attached();
      if (sources?.natsConnected) this.set(sources.natsConnected() ? 1 : 0);
    },
  });
}

/** `reeve_notifications{state}`: the outbox as the store counts it at scrape time. */
function registerOutboxGauge(registry: Registry, attached: () => MetricsSources | undefined): void {
  new Gauge({
    name: 'reeve_notifications',
    help: 'Notifications in the outbox: pending (retries included) and failed (given up)',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const counts = await attached()?.notifications?.().catch(() => undefined);
      if (!counts) return;
      this.set({ state: 'pending' }, counts.pending);
      this.set({ state: 'failed' }, counts.failed);
    },
  });
}
