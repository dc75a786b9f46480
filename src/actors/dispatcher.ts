import type { Logger } from '../ports/logger.ts';
import type { StoredTask, TaskStore } from '../ports/task-store.ts';
import type { KindPlan } from './kind-plan.ts';
import type { SagaActor } from './saga-actor.ts';

export interface DispatcherDeps {
  store: Pick<TaskStore, 'claim'>;
  owner: string;
  leaseTtlMs: number;
  /** Node-wide slot limit. */
  concurrency: number;
  /** The kinds this node can run, as configured now. */
  plans(): ReadonlyMap<string, KindPlan>;
  /** Circuit breakers: which keys are blocked, which admit one probe. */
  breakers: {
    refresh(): Promise<void>;
    gates(): { blocked: readonly string[]; probeable: readonly string[] };
    /** Makes the claimed task its key's probe; false when another claimer won it. */
    takeProbe(task: StoredTask): Promise<boolean>;
  };
  /** Whether the kind may be claimed now (its preflight passes). */
  kindReady(kind: string): boolean;
  /**
   * Whether the kind may run the half-open probe of `key` (its preflight passed after the
   * breaker's pause ended; asking starts that check). Absent: always.
   */
  probeReady?(kind: string, key: string): boolean;
  /** Gives back a task claimed but not started (lost the probe race): no attempt charged. */
  release(task: StoredTask, reason: string): Promise<void>;
  /** Starts a supervised saga actor for a claimed task; resolves when its turn ends. */
  startSaga(task: StoredTask): SagaActor;
  log: Logger;
}

/**
 * Claims only for free slots (node-wide and per kind), gated by open breakers, and starts one
 * saga actor per claimed task. `tick()` claims until the queue or the slots run out, so a
 * backlog left while the node was down drains at once; `wake()` asks for a tick as soon as
 * a slot frees or a task is submitted in-process.
 */
export class Dispatcher {
  readonly inFlight = new Map<string, SagaActor>();
  readonly #perKind = new Map<string, number>();
  #draining = false;
  readonly #wakeResolvers = new Set<() => void>();

  constructor(private readonly deps: DispatcherDeps) {}

  get isDraining(): boolean {
    return this.#draining;
  }

  stopClaiming(): void {
    this.#draining = true;
    this.wake();
  }

  /** Resolves the next `waitForWork` at once. */
  wake(): void {
    for (const resolve of [...this.#wakeResolvers]) resolve();
  }

  /** Waits until woken or `ms` passes (the poll for work submitted by other processes). */
  waitForWork(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        this.#wakeResolvers.delete(done); // a timed-out wait must not stay registered (leak)
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.#wakeResolvers.add(done);
    });
  }

  /** Claims and starts work for every free slot. Returns how many tasks it started. */
  async tick(): Promise<number> {
    let started = 0;
    for (;;) {
      const round = await this.#claimRound();
      started += round.started;
      if (!round.full) return started;
    }
  }

  /**
   * One claim per kind that has its own slot limit (so a batch never overshoots it), then one
   * for all unlimited kinds. `full` means every request came back full: there may be more.
   */
  async #claimRound(): Promise<{ started: number; full: boolean }> {
    let started = 0;
    let full = true;
    await this.deps.breakers.refresh();
    const { blocked, probeable } = this.deps.breakers.gates();
    const excludeBreakerKeys = [...blocked, ...probeable];
    const groups: Array<{ kinds: string[]; room: number }> = [];
    const unlimited: string[] = [];
    for (const [kind, plan] of this.deps.plans()) {
      if (!this.deps.kindReady(kind)) continue;
      if (plan.concurrency === undefined) unlimited.push(kind);
      else groups.push({ kinds: [kind], room: plan.concurrency - (this.#perKind.get(kind) ?? 0) });
    }
    if (unlimited.length) groups.push({ kinds: unlimited, room: Number.POSITIVE_INFINITY });
    for (const group of groups) {
      const limit = Math.min(this.deps.concurrency - this.inFlight.size, group.room, 256);
      if (this.#draining || limit <= 0) continue;
      const claimed = await this.deps.store.claim({
        owner: this.deps.owner,
        limit,
        leaseTtlMs: this.deps.leaseTtlMs,
        kinds: group.kinds,
        excludeBreakerKeys,
      });
      for (const task of claimed) this.#start(task);
      started += claimed.length;
      if (claimed.length < limit) full = false;
    }
    started += await this.#claimProbes(probeable, groups.flatMap((g) => (g.room > 0 ? g.kinds : [])));
    return { started, full: full && started > 0 && !this.#draining };
  }

  /** One task per half-open breaker, and only if this claimer wins the breaker's probe. */
  async #claimProbes(keys: readonly string[], kinds: string[]): Promise<number> {
    let started = 0;
    const plans = this.deps.plans();
    for (const key of keys) {
      if (this.#draining || kinds.length === 0 || this.inFlight.size >= this.deps.concurrency) break;
      // A kind whose tasks use this key by default (its name or its breakerKey) probes it only
      // with a fresh preflight. A kind that reaches the key only through tasks naming it is not
      // held: that would re-run its preflight for every breaker any of its tasks names.
      const candidates = kinds.filter((kind) => plans.get(kind)?.breakerKey !== key || (this.deps.probeReady?.(kind, key) ?? true));
      if (candidates.length === 0) continue;
      const [task] = await this.deps.store.claim({ owner: this.deps.owner, limit: 1, leaseTtlMs: this.deps.leaseTtlMs, kinds: candidates, breakerKeys: [key] });
      if (!task) continue;
      if (await this.deps.breakers.takeProbe(task)) {
        this.deps.log.info({ key, taskId: task.id }, 'breaker probe started');
        this.#start(task);
        started++;
      } else {
        await this.deps.release(task, `breaker ${key} admits one probe and another claimer has it`);
      }
    }
    return started;
  }

  #start(task: StoredTask): void {
    // This node re-claimed a task it still runs (its event loop stalled past the lease and its
    // own sweeper re-queued it): the old actor is fenced before the new one starts.
    const previous = this.inFlight.get(task.id);
    if (previous) {
      previous.leaseLost();
      this.finished(task, previous);
    }
    this.#perKind.set(task.kind, (this.#perKind.get(task.kind) ?? 0) + 1);
    const actor = this.deps.startSaga(task);
    this.inFlight.set(task.id, actor);
  }

  /** Called when a saga actor's turn on a task ends (any way); only that actor's entry goes. */
  finished(task: Pick<StoredTask, 'id' | 'kind'>, actor: SagaActor | undefined = this.inFlight.get(task.id)): void {
    if (actor === undefined || this.inFlight.get(task.id) !== actor) return;
    this.inFlight.delete(task.id);
    this.#perKind.set(task.kind, Math.max(0, (this.#perKind.get(task.kind) ?? 1) - 1));
    this.wake();
  }
}
