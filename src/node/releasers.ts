import { toError } from '../errors.ts';
import type { Logger } from '../ports/logger.ts';

/**
 * What a node holds (the backend, the HTTP server, subscriptions, the supervision tree), each
 * registered with its release right where it is acquired. `releaseAll()` releases them in
 * reverse order: what was acquired later may use what came before, so it goes first. A failing
 * release is logged and the others still run. The shutdown order is thus the start-up order
 * backwards, and no list of it is kept by hand (graphile-worker's `withReleasers` is the idea).
 */
export class Releasers {
  readonly #stack: Array<{ name: string; release: () => unknown }> = [];
  #releasing: Promise<void> | undefined;

  constructor(private readonly log: Logger) {}

  /**
   * Registers how to release a resource just acquired. One acquired while the others are
   * already being released (a start-up step that finishes late) is released at once.
   */
  defer(name: string, release: () => unknown): void {
    if (this.#releasing) {
      void this.#releaseOne({ name, release }); // never rejects: #releaseOne logs a failure
      return;
    }
    this.#stack.push({ name, release });
  }

  /** Releases everything, last registered first; resolves once all are done. Idempotent. */
  releaseAll(): Promise<void> {
    this.#releasing ??= (async () => {
      for (let next = this.#stack.pop(); next; next = this.#stack.pop()) await this.#releaseOne(next);
    })();
    return this.#releasing;
  }

  async #releaseOne({ name, release }: { name: string; release: () => unknown }): Promise<void> {
    try {
      await release();
    } catch (err) {
      this.log.error({ err: toError(err), resource: name }, `could not release ${name}; releasing the rest`);
    }
  }
}
