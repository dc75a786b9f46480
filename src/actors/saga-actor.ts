import { ErrorCode, ReeveError, toError } from '../errors.ts';
import { initialSaga, persistSaga, restoreSaga, sagaState, stepSaga, type SagaSnapshot } from '../machines/task-saga-snapshot.ts';
import { countedAs, type CountedAs } from '../machines/task-saga-logic.ts';
import { gateRunFailed, judgeGate, stepRoute, type JudgedStep } from '../machines/gate-verdict.ts';
import type { SagaEvent } from '../machines/task-saga-types.ts';
import { taskSagaMachine } from '../machines/task-saga.ts';
import type { Clock } from '../ports/clock.ts';
import type { InspectedEvent, Inspection, InspectedSource, InspectedStatus } from '../ports/inspection.ts';
import type { Logger } from '../ports/logger.ts';
import { lazyChild } from './lazy-logger.ts';
import type { AbortReason, RunOutcome, Runner } from '../ports/runner.ts';
import type { StoredTask, TaskStore, TaskWrite, TransitionRequest } from '../ports/task-store.ts';
import { backoffDelay } from '../machines/backoff.ts';
import { isTerminal } from '../protocol/task-states.ts';
import type { Json } from '../protocol/task.ts';
import type { KindPlan } from './kind-plan.ts';

export interface SagaActorDeps {
  store: Pick<TaskStore, 'get' | 'heartbeat'>;
  /** Transition writes, usually through a WriteBatcher (group commit). */
  write(request: TransitionRequest): Promise<TaskWrite>;
  runner: Runner;
  owner: string;
  leaseTtlMs: number;
  clock: Clock;
  /** Jitter source for backoff, in [0, 1). */
  random(): number;
  log: Logger;
  plan(kind: string): KindPlan | undefined;
  workspace(taskId: string): Promise<string>;
  /** The task reached a terminal state through this actor (workspace cleanup). */
  onTerminal?(task: StoredTask): void;
  /** Each attempt's verdict, for the task's circuit breaker ('none': no verdict, e.g. stopped). */
  onVerdict?(task: StoredTask, verdict: 'succeeded' | 'transient' | 'permanent' | 'none'): void;
  /** Pause before retrying a write the store could not take (default: a real timer). */
  sleep?: (ms: number) => Promise<void>;
  /** Live state for the inspector: the task as actor `task:<id>` under `parentId()` (its supervisor). */
  inspect?: { port: Inspection; parentId(): string | undefined };
}

/** How a saga actor's turn on a task ended. */
export type SagaEnd = 'released' | 'lost';

class LeaseGone extends Error {}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const clip = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);

/** Who sent the saga each event, as the inspector shows it. */
const SOURCES: Partial<Record<SagaEvent['type'], InspectedSource>> = {
  'task.claimed': 'dispatcher',
  'step.succeeded': 'runner',
  'attempt.failed': 'runner',
  'run.stopped': 'runner',
  'compensation.succeeded': 'runner',
  'compensation.failed': 'runner',
  'task.handback': 'node',
};

const verdictOf = (counted: CountedAs): 'transient' | 'permanent' | 'none' => (counted === 'transient' || counted === 'permanent' ? counted : 'none');

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * One in-flight task: restores its saga, performs what each state asks (run a step, stop a run,
 * run a compensation) and persists every transition with compare-and-set. Its turn ends when
 * the task leaves the leased states (done, backoff, waiting, handed back) or the lease is lost.
 * Writes and lease renewals go through one chain so they never race each other's revision.
 */
export class SagaActor {
  readonly id: string;
  revision: number;
  #snapshot: SagaSnapshot | undefined;
  #chain: Promise<unknown> = Promise.resolve();
  #run: AbortController | undefined;
  #cancel: string | undefined;
  #stop: AbortReason | undefined;
  #lost = false;
  #phase: 'run' | 'compensate' | 'gate' | undefined;
  #lastProgressAt = 0;
  readonly #log: Logger;

  constructor(
    private readonly task: StoredTask,
    private readonly deps: SagaActorDeps,
  ) {
    this.id = task.id;
    this.revision = task.revision;
    this.#cancel = task.cancelRequested?.reason;
    this.#log = lazyChild(deps.log, { taskId: task.id, kind: task.kind });
  }

  /** The owner was asked to cancel (seen on a lease renewal). */
  requestCancel(reason: string): void {
    if (this.#cancel !== undefined) return;
    this.#cancel = reason;
    // A compensation is cleanup: a cancel does not interrupt it (the task is ending anyway).
    if (this.#phase !== 'compensate') this.#run?.abort('cancel' satisfies AbortReason);
  }

  /** Drain or shutdown: stop the run and hand the task back without charging an attempt. */
  handBack(reason: 'drain' | 'shutdown'): void {
    this.#stop = reason;
    this.#run?.abort(reason);
  }

  /** Fencing: another node owns the task now. Kill the run; write nothing more. */
  leaseLost(): void {
    if (this.#lost) return;
    this.#lost = true;
    this.#log.warn({ code: ErrorCode.LeaseLost }, 'lease lost; stopping the run');
    this.#run?.abort('lease-lost' satisfies AbortReason);
  }

  get isLost(): boolean {
    return this.#lost;
  }

  /** Extends the lease; sees cancel requests and lost leases. */
  renewLease(details?: Json): Promise<void> {
    return this.#serial(async () => {
      if (this.#lost) return;
      const request = { id: this.id, owner: this.deps.owner, leaseTtlMs: this.deps.leaseTtlMs, ...(details === undefined ? {} : { details }) };
      await this.#withRevision(async () => {
        const w = await this.deps.store.heartbeat({ ...request, revision: this.revision });
        this.revision = w.revision;
      });
    }).catch((err: unknown) => {
      if (!(err instanceof LeaseGone)) throw err;
    });
  }

  async run(): Promise<SagaEnd> {
    const plan = this.deps.plan(this.task.kind);
    const policy = plan?.policy;
    let snapshot = this.task.snapshot ? restoreSaga(this.task.snapshot) : policy ? initialSaga({ taskId: this.id, policy }) : undefined;
    if (!snapshot || !plan) return this.#unknownKind();
    this.#snapshot = snapshot;
    const inspect = this.deps.inspect;
    if (inspect?.port.isOn) inspect.port.actor(`task:${this.id}`, inspect.parentId(), this.#inspected(snapshot), taskSagaMachine);
    try {
      // Persisted lazily: if the claim changes nothing the store does not already say, the
      // snapshot goes with the next write (a crash before it just replays the claim).
      // A task cancelled while nobody held it is stored `cancelling` but its snapshot is where it
      // stopped (queued, backoff, waiting, or running before a crash): the loop below sends it
      // `task.cancel` first. Claiming it would move it to `running`, which `cancelling` refuses.
      const cancelledUnowned = this.task.state === 'cancelling' && sagaState(snapshot) !== 'cancelling' && sagaState(snapshot) !== 'compensating';
      if (!cancelledUnowned) {
        const claim = { type: 'task.claimed', now: this.deps.clock.now(), policy: plan.policy, attempts: this.task.attempts } as const;
        snapshot = stepSaga(snapshot, claim);
        this.#snapshot = snapshot;
        // A pipeline's record names its step from the start (show, tasks, submit --wait): a first
        // claim stores none, so it is written now. One write per claim, pipelines only.
        const step = plan.policy.steps.length > 1 ? plan.policy.steps[snapshot.context.stepIndex]?.name : undefined;
        if (sagaState(snapshot) !== this.task.state) await this.#persist(snapshot);
        else if (step !== undefined && step !== this.task.step) await this.#persist(snapshot, { record: false });
        this.#inspect(claim);
      } else {
        this.#cancel ??= 'cancel requested';
      }
      for (;;) {
        if (this.#lost) return 'lost';
        snapshot = this.#snapshot;
        const state = sagaState(snapshot);
        if (this.#cancel !== undefined && ['running', 'queued', 'backoff', 'waiting'].includes(state)) {
          await this.#apply({ type: 'task.cancel', reason: this.#cancel });
          continue;
        }
        if (state === 'running') await this.#runStep(plan);
        else if (state === 'cancelling') await this.#apply({ type: 'run.stopped' });
        else if (state === 'compensating') {
          if (this.#stop) {
            await this.#persist(snapshot, { release: true, reason: `handed back mid-compensation: ${this.#stop}` });
            return 'released';
          }
          await this.#compensate(plan);
        } else {
          if (isTerminal(state)) this.deps.onTerminal?.(this.task);
          return 'released';
        }
      }
    } catch (err) {
      if (err instanceof LeaseGone) return 'lost';
      throw err;
    } finally {
      // The turn is over: a task that did not end here leaves the inspector's live actors.
      const last = this.#snapshot;
      if (last && !isTerminal(sagaState(last))) this.#inspect({ type: 'actor.stopped', reason: this.#lost ? 'lease lost' : (this.#stop ?? 'released') }, 'stopped');
    }
  }

  #inspected(snapshot: SagaSnapshot, status?: InspectedStatus) {
    const value = sagaState(snapshot);
    return { status: status ?? (isTerminal(value) ? ('done' as const) : ('active' as const)), value, context: snapshot.context };
  }

  /** Reports the event the saga just took (persisted) and the snapshot it is in now. */
  #inspect(event: InspectedEvent, status?: InspectedStatus): void {
    const port = this.deps.inspect?.port;
    if (!port?.isOn) return;
    const source = SOURCES[event.type as SagaEvent['type']] ?? (event.type === 'task.cancel' ? 'operator' : undefined);
    port.step(`task:${this.id}`, event, this.#inspected(this.#snapshot!, status), source);
  }

  async #runStep(plan: KindPlan): Promise<void> {
    const context = this.#snapshot!.context;
    const step = plan.steps[context.stepIndex];
    if (!step) {
      await this.#apply({ type: 'attempt.failed', failure: { class: 'permanent', code: 'UNKNOWN_STEP', message: `kind ${plan.kind} has no step #${context.stepIndex}` }, jitter: this.deps.random() });
      return;
    }
    if (this.#stop) {
      await this.#apply({ type: 'task.handback', reason: this.#stop });
      return;
    }
    const invoked = await this.#invoke(plan, step.name, 'run', step.run);
    const route = invoked.ok ? stepRoute(invoked.output, invoked.route) : undefined;
    const ran: RunOutcome = invoked.ok ? { ok: true, output: invoked.output, ...(route ? { route } : {}) } : invoked;
    let outcome: JudgedStep | RunOutcome = ran;
    if (ran.ok && step.gate) {
      const gate = await this.#invoke(plan, step.name, 'gate', step.gate, { input: this.task.input ?? null, output: ran.output ?? null });
      outcome = gate.ok ? judgeGate(step.name, ran, gate) : gate.aborted ? gate : { ok: false, failure: gateRunFailed(step.name, gate.failure) };
    }
    if (this.#lost) {
      this.deps.onVerdict?.(this.task, 'none');
      throw new LeaseGone();
    }
    const aborted = !outcome.ok && 'aborted' in outcome ? outcome.aborted : undefined;
    // A gate's verdict is about the work, not the provider: a step that ran is a success for its breaker.
    this.deps.onVerdict?.(this.task, outcome.ok || (ran.ok && outcome.failure.code?.startsWith('GATE_')) ? 'succeeded' : aborted ? 'none' : verdictOf(countedAs(outcome.failure, plan.policy)));
    if (outcome.ok) {
      await this.#apply({ type: 'step.succeeded', ...(outcome.output === undefined ? {} : { output: outcome.output }), ...(outcome.route ? { route: outcome.route } : {}), ...('gate' in outcome && outcome.gate ? { gate: outcome.gate } : {}) });
    } else if (aborted === 'cancel') {
      await this.#apply({ type: 'task.cancel', reason: this.#cancel ?? 'cancelled' });
    } else if (aborted === 'drain' || aborted === 'shutdown') {
      await this.#apply({ type: 'task.handback', reason: aborted });
    } else {
      this.#log.info({ failure: outcome.failure, step: step.name }, 'attempt failed');
      await this.#apply({ type: 'attempt.failed', failure: outcome.failure, jitter: this.deps.random() });
    }
  }

  async #compensate(plan: KindPlan): Promise<void> {
    const head = this.#snapshot!.context.pendingCompensations[0]!;
    const handler = plan.steps.find((s) => s.name === head)?.compensate;
    const outcome: RunOutcome = handler
      ? await this.#invoke(plan, head, 'compensate', handler)
      : { ok: false, failure: { class: 'permanent', message: `kind ${plan.kind} no longer has a compensator for step ${head}` } };
    if (this.#lost) throw new LeaseGone();
    if (outcome.ok) await this.#apply({ type: 'compensation.succeeded', step: head });
    else await this.#apply({ type: 'compensation.failed', step: head, message: outcome.failure.message });
  }

  async #invoke(plan: KindPlan, step: string, phase: 'run' | 'compensate' | 'gate', handler: KindPlan['steps'][number]['run'], input?: Json): Promise<RunOutcome> {
    const context = this.#snapshot!.context;
    const controller = new AbortController();
    this.#run = controller;
    this.#phase = phase;
    if (this.#lost) controller.abort('lease-lost');
    else if (this.#stop) controller.abort(this.#stop);
    else if (this.#cancel !== undefined && phase !== 'compensate') controller.abort('cancel');
    try {
      const timeoutMs = this.task.timeoutMs ?? plan.timeoutMs;
      return await this.deps.runner.run({
        taskId: this.id,
        kind: this.task.kind,
        step,
        attempt: context.attempts.transient + context.attempts.permanent + 1,
        phase,
        handler,
        input: input ?? this.task.input,
        steps: context.outputs,
        // Only the step's own runs (and its gate) see why it runs; a compensation does not.
        ...(phase !== 'compensate' && context.approval ? { approval: context.approval } : {}),
        ...(phase !== 'compensate' && context.feedback ? { feedback: context.feedback } : {}),
        workspace: await this.deps.workspace(this.id),
        signal: controller.signal,
        killGraceMs: plan.killGraceMs,
        retryOn: plan.retryOn,
        onHeartbeat: (details) => this.#progress(details),
        log: this.#log.child({ step, phase }),
        ...(timeoutMs === undefined ? {} : { timeoutMs }),
        ...(plan.heartbeatTimeoutMs === undefined ? {} : { heartbeatTimeoutMs: plan.heartbeatTimeoutMs }),
        ...(plan.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: plan.idleTimeoutMs }),
      });
    } finally {
      this.#run = undefined;
      this.#phase = undefined;
    }
  }

  #progress(details: Json | undefined): void {
    const now = this.deps.clock.now();
    if (details === undefined || now - this.#lastProgressAt < 1000) return;
    this.#lastProgressAt = now;
    void this.renewLease(details).catch((err: unknown) => this.#log.warn({ err: toError(err) }, 'progress write failed'));
  }

  async #apply(event: DistributiveOmit<SagaEvent, 'now'>): Promise<void> {
    const current = this.#snapshot!;
    const next = stepSaga(current, { ...event, now: this.deps.clock.now() } as SagaEvent);
    if (next === current) {
      this.#log.warn({ event: event.type, state: sagaState(current) }, 'saga refused an event');
      throw new ReeveError(ErrorCode.Internal, `task ${this.id}: the saga in ${String(current.value)} refused ${event.type}`);
    }
    // A step done is always a history entry, even when a goto re-enters the same step.
    await this.#persist(next, event.type === 'step.succeeded' ? { record: true } : {});
    this.#snapshot = next;
    this.#inspect(event);
  }

  #persist(next: SagaSnapshot, extra: { release?: boolean; reason?: string; record?: boolean } = {}): Promise<void> {
    const ctx = next.context;
    const to = sagaState(next);
    const request: Omit<TransitionRequest, 'revision'> = {
      id: this.id,
      owner: this.deps.owner,
      to,
      // Failure messages (a command's log tail) can be long; the store caps what it accepts.
      reason: clip(extra.reason ?? ctx.note, 1900),
      step: ctx.policy.steps[ctx.stepIndex]?.name ?? null,
      attempts: ctx.attempts,
      compensations: ctx.compensations,
      snapshot: persistSaga(next),
      leaseTtlMs: this.deps.leaseTtlMs,
    };
    if (extra.release) request.release = true;
    if (extra.record !== undefined) request.record = extra.record;
    if (to === 'backoff' && ctx.availableAt !== undefined) request.availableAt = ctx.availableAt;
    if (to === 'queued') request.availableAt = this.deps.clock.now();
    if (to === 'succeeded') Object.assign(request, { result: ctx.result ?? null, error: null });
    else if (ctx.error) request.error = { ...ctx.error, message: clip(ctx.error.message, 60_000), ...(ctx.error.code ? { code: clip(ctx.error.code, 190) } : {}) };
    return this.#serial(() =>
      this.#withRevision(async () => {
        const w = await this.deps.write({ ...request, revision: this.revision });
        this.revision = w.revision;
      }),
    );
  }

  /**
   * Retries a write after a conflict (an operator's cancel request, an annotation), fences on loss.
   * A store that cannot be reached (a NATS outage, a failover) is retried with backoff for up to
   * one lease TTL: a short outage costs nothing, and past the TTL the lease has expired anyway,
   * so the run is stopped as fenced (another node may take the task over once it can see it).
   */
  async #withRevision(write: () => Promise<void>): Promise<void> {
    let unreachableSince: number | undefined;
    for (let attempt = 0, outage = 0; ; attempt++) {
      try {
        return await write();
      } catch (err) {
        const code = (err as { code?: string }).code;
        // Fenced already (a renewal found the lease gone): whatever this write met, the run stops.
        if (this.#lost) throw new LeaseGone();
        if (code === ErrorCode.StoreUnavailable) {
          const now = this.deps.clock.now();
          unreachableSince ??= now;
          if (now - unreachableSince < this.deps.leaseTtlMs) {
            if (outage === 0) this.#log.warn({ err: toError(err) }, 'store unreachable; retrying the write while the lease lasts');
            await (this.deps.sleep ?? defaultSleep)(backoffDelay(outage++, { firstMs: 100, maxMs: 2_000 }));
            attempt--;
            continue;
          }
          this.#log.error({ err: toError(err) }, 'store unreachable for a whole lease TTL; stopping the run (its lease has expired)');
          this.leaseLost();
          throw new LeaseGone();
        }
        // TASK_TERMINAL on a task we hold: another owner took it over and finished it (only an
        // owner can end a task), which is a lost lease seen late, not a bug to crash on.
        if (code === ErrorCode.LeaseLost || code === ErrorCode.TaskTerminal) {
          this.leaseLost();
          throw new LeaseGone();
        }
        if (code !== ErrorCode.StoreConflict || attempt >= 5) throw err;
        const fresh = await this.deps.store.get(this.id);
        if (!fresh || fresh.owner !== this.deps.owner) {
          this.leaseLost();
          throw new LeaseGone();
        }
        this.revision = fresh.revision;
        if (fresh.cancelRequested) this.requestCancel(fresh.cancelRequested.reason);
      }
    }
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#chain.then(fn, fn);
    this.#chain = next.catch(() => undefined);
    return next;
  }

  async #unknownKind(): Promise<SagaEnd> {
    // The dispatcher claims only configured kinds; this is a kind removed while in flight.
    this.#log.error({ code: 'UNKNOWN_KIND' }, 'task of a kind that is no longer configured; releasing it');
    await this.#serial(() =>
      this.#withRevision(async () => {
        const w = await this.deps.write({ id: this.id, revision: this.revision, owner: this.deps.owner, to: this.task.state === 'running' ? 'queued' : this.task.state, reason: `kind ${this.task.kind} is not configured on ${this.deps.owner}`, release: true, availableAt: this.deps.clock.now() + 60_000 });
        this.revision = w.revision;
      }),
    ).catch(() => undefined);
    return 'released';
  }
}
