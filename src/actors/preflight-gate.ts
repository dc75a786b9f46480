import { toError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import type { GateStore } from '../ports/gate-store.ts';
import type { Logger } from '../ports/logger.ts';
import type { Runner } from '../ports/runner.ts';
import type { KindPlan } from './kind-plan.ts';

/**
 * Preflight per kind: a cheap command or function (`claude --version`) whose result is cached
 * for `ttlMs`. Until it passes, no task of the kind is claimed; results go to the store so
 * `reeve status` in another process says why a kind is held. A half-open breaker's probe asks
 * for a result newer than the end of the breaker's pause (`readyForProbe`): the cached "ok"
 * predates the outage that opened the breaker, and a probe spent on a provider the preflight
 * would show still down costs a task attempt and doubles the pause.
 */
export class PreflightGate {
  readonly #results = new Map<string, { ok: boolean; reason: string; checkedAt: number }>();
  readonly #running = new Set<string>();
  /** Kinds a probe waits on, with the time their next result must be at or after. */
  readonly #demands = new Map<string, number>();

  constructor(
    private readonly deps: { runner: Runner; clock: Clock; log: Logger; store: GateStore; plans(): ReadonlyMap<string, KindPlan>; workspace: string },
  ) {}

  /** A kind without preflight is always ready; one with preflight once its last check passed. */
  ready(kind: string): boolean {
    if (!this.deps.plans().get(kind)?.preflight) return true;
    return this.#results.get(kind)?.ok === true;
  }

  /**
   * Whether a breaker probe may run a task of this kind: it has no preflight, or its preflight
   * passed at or after `since` (the end of the breaker's pause). When the last result is older,
   * the next `tick` checks again whatever the TTL, and this answers false until then.
   */
  readyForProbe(kind: string, since: number): boolean {
    if (!this.deps.plans().get(kind)?.preflight) return true;
    const last = this.#results.get(kind);
    if (last && last.checkedAt >= since) return last.ok;
    this.#demands.set(kind, Math.max(since, this.#demands.get(kind) ?? since));
    return false;
  }

  /** Runs the checks that are missing, older than their TTL, or older than a probe needs, all at once. */
  async tick(): Promise<void> {
    const now = this.deps.clock.now();
    const due: Array<Promise<void>> = [];
    for (const [kind, plan] of this.deps.plans()) {
      if (!plan.preflight || this.#running.has(kind)) continue;
      const last = this.#results.get(kind);
      const demanded = this.#demands.get(kind);
      const isStale = !last || now - last.checkedAt >= plan.preflight.ttlMs || (demanded !== undefined && last.checkedAt < demanded);
      if (isStale) due.push(this.#check(kind, plan));
    }
    await Promise.all(due);
  }

  async #check(kind: string, plan: KindPlan): Promise<void> {
    const preflight = plan.preflight!;
    this.#running.add(kind);
    try {
      const outcome = await this.deps.runner.run({
        taskId: `preflight-${kind}`,
        kind,
        step: 'preflight',
        attempt: 1,
        phase: 'gate',
        handler: preflight.handler,
        input: undefined,
        steps: {},
        workspace: this.deps.workspace,
        signal: new AbortController().signal,
        timeoutMs: preflight.timeoutMs,
        killGraceMs: Math.min(plan.killGraceMs, 2000),
        retryOn: [],
        onHeartbeat: () => {},
        log: this.deps.log.child({ kind, preflight: true }),
      });
      const result = { ok: outcome.ok, reason: outcome.ok ? 'ok' : outcome.failure.message.slice(0, 500), checkedAt: this.deps.clock.now() };
      const before = this.#results.get(kind);
      this.#results.set(kind, result);
      if ((this.#demands.get(kind) ?? Number.POSITIVE_INFINITY) <= result.checkedAt) this.#demands.delete(kind);
      if (before?.ok !== result.ok) {
        if (result.ok) this.deps.log.info({ kind }, 'preflight passed; claiming this kind');
        else this.deps.log.warn({ kind, reason: result.reason }, 'preflight failed; holding this kind');
      }
      await this.deps.store.putPreflight({ kind, ...result });
    } catch (err) {
      this.deps.log.error({ err: toError(err), kind }, 'preflight check crashed');
    } finally {
      this.#running.delete(kind);
    }
  }
}
