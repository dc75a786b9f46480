import { ErrorCode, ReeveError, toError } from '../errors.ts';
import {
  decideOnExit,
  initialSupervisorState,
  type ChildExit,
  type RestartType,
  type SupervisorSpec,
  type SupervisorState,
} from '../machines/supervisor-policy.ts';
import type { Clock } from '../ports/clock.ts';
import { noInspection, type Inspection, type InspectedSnapshot } from '../ports/inspection.ts';
import type { Logger } from '../ports/logger.ts';
import type { Timers } from '../ports/timers.ts';

/** A running child, as its `start()` returns it. */
export interface ChildHandle {
  /** Resolves when the child exits normally; rejects when it crashes. */
  done: Promise<void>;
  /** Resolves once the child has stopped. Stopping is not a crash, however `done` settles. */
  stop(reason?: string): Promise<void>;
  /** A nested supervisor's children (for the supervision tree). */
  tree?(): SupervisionNode[];
}

export interface ChildSpec {
  /** Unique within its supervisor; names the child in logs and metrics. */
  id: string;
  restart: RestartType;
  /** Starts a fresh instance. Throwing (or rejecting) counts as a crash. */
  start(self?: ChildContext): ChildHandle | Promise<ChildHandle>;
}

/** What a starting child learns of itself: its inspector identity (a restart gets a new one). */
export interface ChildContext {
  sessionId: string;
  inspection: Inspection;
}

/** A child in the supervision tree, as the dashboard draws it. */
export interface SupervisionNode {
  id: string;
  sessionId: string;
  status: Slot['status'];
  restarts: number;
  crashes: number;
  children?: SupervisionNode[];
}

export interface SupervisorOptions {
  id: string;
  spec: SupervisorSpec;
  /** Started in this order; stopped in reverse. */
  children: ChildSpec[];
  log: Logger;
  clock: Clock;
  timers: Timers;
  /** Live state for the inspector: this supervisor and each child it starts are actors. */
  inspection?: Inspection;
  /** This supervisor's inspector session id (default: its id); a nested one gets it from its parent. */
  sessionId?: string;
  /** The children report themselves to the inspector (the sagas supervisor: each saga actor does). */
  childrenInspectThemselves?: boolean;
}

export interface ChildMetrics {
  crashes: number;
  restarts: number;
}

interface Slot {
  spec: ChildSpec;
  handle: ChildHandle | undefined;
  /** The running instance's inspector session id. */
  sessionId: string;
  /** Bumped on every start, so an exit reported by an older instance is recognised and ignored. */
  incarnation: number;
  status: 'running' | 'pending' | 'stopping';
}

/** Children waiting out a backoff delay, restarted together in start order. */
interface PendingRestart {
  ids: Set<string>;
  timer: unknown;
}

/**
 * An OTP-style supervisor (DESIGN.md, "Supervision"). Every change to the set of children runs
 * as one operation on a serial queue, so an exit, a restart and a stop never interleave halfway.
 */
export class Supervisor {
  readonly id: string;
  /** Its actor's session id in the inspector. */
  readonly sessionId: string;
  /** Resolves after `stop()`; rejects (ErrorCode.Internal) after an escalation has stopped every child. */
  readonly done: Promise<void>;
  private readonly slots: Slot[] = [];
  private readonly pending = new Set<PendingRestart>();
  private readonly counts = new Map<string, ChildMetrics>();
  private policy: SupervisorState = initialSupervisorState();
  private queue: Promise<void> = Promise.resolve();
  private isStarted = false;
  private stopping: Promise<void> | undefined;
  private settle!: { resolve: () => void; reject: (err: Error) => void };
  private readonly inspection: Inspection;

  constructor(private readonly options: SupervisorOptions) {
    this.id = options.id;
    this.sessionId = options.sessionId ?? options.id;
    this.inspection = options.inspection ?? noInspection;
    this.done = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    // Callers that never await `done` must not turn an escalation into an unhandled rejection.
    this.done.catch(() => undefined);
    for (const spec of options.children) this.addSlot(spec);
  }

  /** Starts the children in order. A child whose start fails is handled as a crash. */
  start(): Promise<void> {
    if (this.isStarted) return Promise.reject(new ReeveError(ErrorCode.Internal, `supervisor ${this.id} was already started`, { data: { supervisor: this.id } }));
    this.isStarted = true;
    return this.enqueue(async () => {
      // incarnation 0: not started yet (a startChild before start() already runs).
      for (const slot of [...this.slots]) if (!this.stopping && slot.incarnation === 0) await this.startSlot(slot);
    });
  }

  /** Adds a child after the existing ones and starts it (e.g. a per-task saga actor). */
  startChild(spec: ChildSpec): Promise<void> {
    return this.enqueue(async () => {
      if (this.stopping) throw new ReeveError(ErrorCode.Internal, `supervisor ${this.id} is stopping; child ${spec.id} was not started`, { data: { supervisor: this.id, child: spec.id } });
      if (this.slot(spec.id)) {
        throw new ReeveError(ErrorCode.InvalidInput, `supervisor ${this.id} already has a child ${spec.id}; give each child a unique id`, { data: { supervisor: this.id, child: spec.id } });
      }
      await this.startSlot(this.addSlot(spec));
    });
  }

  /** Stops one child and forgets it. Resolves false if there is no such child. */
  terminateChild(id: string): Promise<boolean> {
    return this.enqueue(async () => {
      const slot = this.slot(id);
      if (!slot) return false;
      for (const group of this.pending) group.ids.delete(id);
      await this.stopSlot(slot);
      this.removeSlot(slot);
      return true;
    });
  }

  /** Stops every child in reverse start order, each after the later ones have stopped. */
  stop(): Promise<void> {
    if (!this.stopping) {
      this.cancelPending();
      this.stopping = this.enqueue(() => this.stopAll()).then(() => this.settle.resolve());
    }
    return this.stopping;
  }

  /** Children waiting out a backoff before their restart (readiness: the node is not healthy meanwhile). */
  get restartsPending(): number {
    let n = 0;
    for (const group of this.pending) n += group.ids.size;
    return n;
  }

  /** Crash and restart counts by child id, for current children and any child that ever crashed. */
  metrics(): Record<string, ChildMetrics> {
    return Object.fromEntries([...this.counts].map(([id, m]) => [id, { ...m }]));
  }

  /** The children now, with their counts; a nested supervisor's own children below it. */
  tree(): SupervisionNode[] {
    return this.slots.map((slot) => {
      const m = this.counts.get(slot.spec.id) ?? { crashes: 0, restarts: 0 };
      const children = slot.handle?.tree?.();
      return { id: slot.spec.id, sessionId: slot.sessionId, status: slot.status, ...m, ...(children ? { children } : {}) };
    });
  }

  /** What the inspector shows of this supervisor: running or restarting, and its children's restarts. */
  inspected(status: InspectedSnapshot['status'] = 'active'): InspectedSnapshot {
    const restarts: Record<string, number> = {};
    for (const [id, m] of this.counts) if (m.restarts > 0 || m.crashes > 0) restarts[id] = m.restarts;
    return { status, value: this.stopping ? 'stopping' : this.pending.size > 0 ? 'restarting' : 'running', context: { children: this.slots.length, restarts } };
  }

  private enqueue<T>(op: () => Promise<T>): Promise<T> {
    const result = this.queue.then(op);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private slot(id: string): Slot | undefined {
    return this.slots.find((s) => s.spec.id === id);
  }

  private addSlot(spec: ChildSpec): Slot {
    const slot: Slot = { spec, handle: undefined, sessionId: '', incarnation: 0, status: 'pending' };
    this.slots.push(slot);
    if (!this.counts.has(spec.id)) this.counts.set(spec.id, { crashes: 0, restarts: 0 });
    return slot;
  }

  private removeSlot(slot: Slot): void {
    this.slots.splice(this.slots.indexOf(slot), 1);
    // Per-task children come and go by the thousand: keep only the ones worth a look.
    if (this.counts.get(slot.spec.id)?.crashes === 0) this.counts.delete(slot.spec.id);
  }

  private async startSlot(slot: Slot): Promise<void> {
    const incarnation = ++slot.incarnation;
    slot.status = 'running';
    // A restarted child is a new actor under the same parent: a new session id, its count shown.
    slot.sessionId = `${this.sessionId}/${slot.spec.id}${incarnation > 1 ? `@${incarnation}` : ''}`;
    this.inspectChild(slot, undefined, 'active', 'running');
    let handle: ChildHandle;
    try {
      handle = await slot.spec.start({ sessionId: slot.sessionId, inspection: this.inspection });
    } catch (thrown) {
      this.reportExit(slot, incarnation, 'crash', toError(thrown));
      return;
    }
    slot.handle = handle;
    handle.done.then(
      () => this.reportExit(slot, incarnation, 'normal'),
      (err: unknown) => this.reportExit(slot, incarnation, 'crash', toError(err)),
    );
  }

  private async stopSlot(slot: Slot): Promise<void> {
    const handle = slot.handle;
    slot.status = 'stopping';
    slot.handle = undefined;
    if (!handle) return;
    try {
      await handle.stop(`supervisor ${this.id} is stopping it`);
    } catch (thrown) {
      this.options.log.error({ err: toError(thrown), child: slot.spec.id, supervisor: this.id }, 'child failed to stop');
    }
    this.inspectChild(slot, { type: 'child.stop' }, 'stopped', 'stopped');
  }

  /**
   * Reports a child to the inspector: without `event` its registration (a new actor), else the
   * event it took and where that left it. Saga actors report themselves (their own machine).
   */
  private inspectChild(slot: Slot, event: { type: string; [k: string]: unknown } | undefined, status: InspectedSnapshot['status'], value: string): void {
    if (!this.inspection.isOn || this.options.childrenInspectThemselves) return;
    const m = this.counts.get(slot.spec.id);
    const snapshot: InspectedSnapshot = { status, value, context: { restarts: m?.restarts ?? 0, crashes: m?.crashes ?? 0, restart: slot.spec.restart } };
    if (event) this.inspection.step(slot.sessionId, event, snapshot, { sessionId: this.sessionId });
    else this.inspection.actor(slot.sessionId, this.sessionId, snapshot);
  }

  /** The supervisor's own snapshot after a change among its children. */
  private inspectSelf(event: { type: string; [k: string]: unknown }, source?: string): void {
    if (this.inspection.isOn) this.inspection.step(this.sessionId, event, this.inspected(), source === undefined ? undefined : { sessionId: source });
  }

  private async stopAll(): Promise<void> {
    for (const slot of [...this.slots].reverse()) await this.stopSlot(slot);
  }

  private cancelPending(): void {
    for (const group of this.pending) this.options.timers.clearTimeout(group.timer);
    this.pending.clear();
  }

  /** Exits are queued, never handled inline: one may arrive while another operation runs. */
  private reportExit(slot: Slot, incarnation: number, reason: ChildExit['reason'], err?: Error): void {
    void this.enqueue(() => this.handleExit(slot, incarnation, reason, err)).catch((thrown: unknown) =>
      this.options.log.error({ err: toError(thrown), child: slot.spec.id }, 'could not handle a child exit'),
    );
  }

  private async handleExit(slot: Slot, incarnation: number, reason: ChildExit['reason'], err?: Error): Promise<void> {
    // A child we stopped, an older instance, or a child already removed: not a crash.
    if (this.stopping || slot.incarnation !== incarnation || slot.status !== 'running' || !this.slots.includes(slot)) return;
    slot.handle = undefined;
    const child = slot.spec.id;
    const metrics = this.counts.get(child)!;
    if (reason === 'crash') metrics.crashes += 1;
    this.inspectChild(slot, reason === 'crash' ? { type: 'child.crashed', message: err?.message } : { type: 'child.exited' }, reason === 'crash' ? 'error' : 'done', reason === 'crash' ? 'crashed' : 'exited');
    const children = this.slots.map((s) => ({ id: s.spec.id, restart: s.spec.restart }));
    const { state, decision } = decideOnExit(this.policy, this.options.spec, children, { childId: child, reason, now: this.options.clock.now() });
    this.policy = state;
    const fields = { err, child, supervisor: this.id, restarts: state.restarts.length };
    const { log } = this.options;
    const crashed = () => (reason === 'crash' ? this.inspectSelf({ type: 'child.crashed', child }, slot.sessionId) : undefined);
    switch (decision.type) {
      case 'none':
        return;
      case 'remove':
        if (reason === 'crash') log.warn(fields, 'child crashed; not restarting');
        this.removeSlot(slot);
        crashed();
        return;
      case 'restart':
        log.warn({ ...fields, delayMs: decision.delayMs }, reason === 'crash' ? 'child crashed; restarting' : 'child exited; restarting');
        slot.status = 'pending';
        for (const id of decision.stopIds) await this.stopSibling(id, decision.childIds.includes(id));
        await this.scheduleRestart(decision.childIds, decision.delayMs);
        crashed();
        return;
      case 'escalate':
        log.error({ ...fields, reason: decision.reason }, 'restart intensity exceeded; escalating');
        crashed();
        await this.escalate(child, decision.reason, err);
    }
  }

  private async stopSibling(id: string, isRestarted: boolean): Promise<void> {
    const sibling = this.slot(id);
    if (!sibling) return;
    await this.stopSlot(sibling);
    if (isRestarted) sibling.status = 'pending';
    else this.removeSlot(sibling);
  }

  /**
   * A restart that overlaps one already waiting (rest_for_one: an earlier sibling crashed during
   * the delay) absorbs it, so the children still come up once each, in start order.
   */
  private async scheduleRestart(childIds: string[], delayMs: number): Promise<void> {
    const ids = new Set(childIds);
    for (const group of this.pending) {
      if (![...group.ids].some((id) => ids.has(id))) continue;
      this.options.timers.clearTimeout(group.timer);
      this.pending.delete(group);
      for (const id of group.ids) ids.add(id);
    }
    if (delayMs <= 0) return this.restart(ids);
    const group: PendingRestart = { ids, timer: undefined };
    group.timer = this.options.timers.setTimeout(() => {
      this.pending.delete(group);
      void this.enqueue(() => this.restart(group.ids)).catch((err: unknown) => this.options.log.error({ err: toError(err), children: [...group.ids] }, 'could not restart children'));
    }, delayMs);
    this.pending.add(group);
  }

  private async restart(ids: Set<string>): Promise<void> {
    // Slots only append or drop, so their current order is still the start order.
    for (const slot of this.slots.filter((s) => ids.has(s.spec.id))) {
      if (this.stopping || slot.status !== 'pending') continue;
      this.counts.get(slot.spec.id)!.restarts += 1;
      await this.startSlot(slot);
      this.inspectSelf({ type: 'child.restarted', child: slot.spec.id }, slot.sessionId);
    }
  }

  private async escalate(child: string, reason: string, cause: Error | undefined): Promise<void> {
    const failure = new ReeveError(ErrorCode.Internal, `supervisor ${this.id} gave up: ${reason}; see the log for the crashes`, {
      ...(cause ? { cause } : {}),
      data: { supervisor: this.id, child, reason },
    });
    this.cancelPending();
    // Runs inside the current operation: queueing it would wait on ourselves.
    this.stopping = this.stopAll();
    await this.stopping;
    this.settle.reject(failure);
  }
}

/** Options for a supervisor nested under another one. */
export interface SupervisorChildOptions extends SupervisorOptions {
  /** Default 'permanent'. */
  restart?: RestartType;
  /** Called with each new instance (a restart builds a fresh one), e.g. to read its metrics. */
  onStart?: (supervisor: Supervisor) => void;
}

/**
 * A supervisor as a child of another: each start builds a fresh Supervisor, whose escalation
 * rejects `done`, which the parent sees as a crash and handles with its own policy.
 */
export function supervisorChild(options: SupervisorChildOptions): ChildSpec {
  const { restart = 'permanent', onStart, ...supervisorOptions } = options;
  return {
    id: options.id,
    restart,
    async start(self) {
      // Its inspector identity comes from the parent: a restart is a new actor with a new id.
      const supervisor = new Supervisor(self ? { ...supervisorOptions, sessionId: self.sessionId, inspection: self.inspection } : supervisorOptions);
      onStart?.(supervisor);
      await supervisor.start();
      return { done: supervisor.done, stop: () => supervisor.stop(), tree: () => supervisor.tree() };
    },
  };
}

export interface RootSupervisorOptions extends SupervisorOptions {
  /** Called once, after every child has stopped, if the root escalates; the node then exits non-zero. */
  onEscalate: (err: Error) => void;
}

/** Starts the node's root supervisor. */
export async function startRootSupervisor(options: RootSupervisorOptions): Promise<Supervisor> {
  const { onEscalate, ...supervisorOptions } = options;
  const root = new Supervisor(supervisorOptions);
  const inspection = options.inspection ?? noInspection;
  inspection.actor(root.sessionId, undefined, root.inspected());
  root.done.then(
    () => inspection.step(root.sessionId, { type: 'supervisor.stopped' }, root.inspected('stopped')),
    (err: unknown) => {
      inspection.step(root.sessionId, { type: 'supervisor.escalated', message: toError(err).message }, root.inspected('error'));
      onEscalate(toError(err));
    },
  );
  await root.start();
  return root;
}
