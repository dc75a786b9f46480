import type { KindPlan } from '../actors/kind-plan.ts';
import type { Config } from '../config/schema.ts';
import type { BreakerSettings } from '../machines/circuit-breaker.ts';
import { buildKindPlans } from './kind-plans.ts';

/** A kind's breaker when it has no plan (its kind was removed by a reload while it ran). */
const DEFAULT_BREAKER: BreakerSettings = { threshold: 5, pauseMs: 60_000, maxPauseMs: 600_000 };

/**
 * The node's configuration as it is now. A SIGHUP reload replaces it; tasks refer to their kind
 * by name, so the next attempt (and every later read here) uses the new one.
 */
export class LiveConfig {
  #config: Config;
  #plans: Map<string, KindPlan>;

  constructor(config: Config) {
    this.#config = config;
    this.#plans = buildKindPlans(config);
  }

  get config(): Config {
    return this.#config;
  }

  get plans(): ReadonlyMap<string, KindPlan> {
    return this.#plans;
  }

  plan(kind: string): KindPlan | undefined {
    return this.#plans.get(kind);
  }

  crashLimit(kind: string): number {
    return this.#plans.get(kind)?.policy.crashLimit ?? this.#config.node.crashLimit;
  }

  breaker(kind: string): BreakerSettings {
    return this.#plans.get(kind)?.breaker ?? DEFAULT_BREAKER;
  }

  reload(next: Config): void {
    this.#config = next;
    this.#plans = buildKindPlans(next);
  }
}
