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
  /** Breaker keys whose breaker is open: nothing is claimed for them (breakers: a later issue). */
  openBreakerKeys(): readonly string[];
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
  #wakeResolvers: Array<() => void> = [];

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
    for (const resolve of this.#wakeResolvers.splice(0)) resolve();
  }

  /** Waits until woken or `ms` passes (the poll for work submitted by other processes). */
  waitForWork(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      this.#wakeResolvers.push(done);
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
    const groups: Array<{ kinds: string[]; room: number }> = [];
    const unlimited: string[] = [];
    for (const [kind, plan] of this.deps.plans()) {
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
        excludeBreakerKeys: [...this.deps.openBreakerKeys()],
      });
      for (const task of claimed) this.#start(task);
      started += claimed.length;
      if (claimed.length < limit) full = false;
    }
    return { started, full: full && started > 0 && !this.#draining };
  }

  #start(task: StoredTask): void {
    this.#perKind.set(task.kind, (this.#perKind.get(task.kind) ?? 0) + 1);
    const actor = this.deps.startSaga(task);
    this.inFlight.set(task.id, actor);
  }

  /** Called by the saga child when its turn on a task ends (any way). */
  finished(task: Pick<StoredTask, 'id' | 'kind'>): void {
    if (!this.inFlight.delete(task.id)) return;
    this.#perKind.set(task.kind, Math.max(0, (this.#perKind.get(task.kind) ?? 1) - 1));
    this.wake();
  }
}
