import type { Logger } from '../ports/logger.ts';

type Args = [object | string, string?];

/**
 * `parent.child(bindings)`, made on first use. A saga actor and each of its runs get a child
 * logger with the task's fields, and most never log a line: creating pino children for them up
 * front was ~2 % of a busy node's CPU (bench:cluster profile). A class, so an in-flight task's
 * loggers cost two small objects, not a closure per level (memory per sleeping task).
 */
class LazyLogger implements Logger {
  #made: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Record<string, unknown>,
  ) {}

  #child(): Logger {
    return (this.#made ??= this.parent.child(this.bindings));
  }

  debug(...args: Args): void {
    (this.#child().debug as (...a: Args) => void)(...args);
  }

  info(...args: Args): void {
    (this.#child().info as (...a: Args) => void)(...args);
  }

  warn(...args: Args): void {
    (this.#child().warn as (...a: Args) => void)(...args);
  }

  error(...args: Args): void {
    (this.#child().error as (...a: Args) => void)(...args);
  }

  child(more: Record<string, unknown>): Logger {
    return this.#made ? this.#made.child(more) : new LazyLogger(this.parent, { ...this.bindings, ...more });
  }
}

export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  return new LazyLogger(parent, bindings);
}
