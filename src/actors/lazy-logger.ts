import type { LogFn, Logger } from '../ports/logger.ts';

/**
 * `parent.child(bindings)`, made on first use. A saga actor and each of its runs get a child
 * logger with the task's fields, and most never log a line: creating pino children for them up
 * front was ~2 % of a busy node's CPU (bench:cluster profile).
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let made: Logger | undefined;
  const child = (): Logger => (made ??= parent.child(bindings));
  const level =
    (name: 'debug' | 'info' | 'warn' | 'error'): LogFn =>
    (...args: [object | string, string?]) =>
      (child()[name] as (...a: [object | string, string?]) => void)(...args);
  return {
    debug: level('debug'),
    info: level('info'),
    warn: level('warn'),
    error: level('error'),
    child: (more) => (made ? made.child(more) : lazyChild(parent, { ...bindings, ...more })),
  };
}
