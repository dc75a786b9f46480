import type { LogFn, Logger } from '../ports/logger.ts';
import type { SecretRedactor } from '../protocol/secret-redactor.ts';

/**
 * `log` with the config's secrets replaced in every message, field and child binding before it
 * gets them: whatever logger the node was given (the CLI's pino, an embedding program's own)
 * never sees a secret that a task's input, an agent's error or its `ctx.log` carried. Without a
 * redactor it is `log` itself, at no cost.
 */
export function redactingLogger(log: Logger, redactor: SecretRedactor | undefined): Logger {
  if (!redactor) return log;
  const level =
    (name: 'debug' | 'info' | 'warn' | 'error'): LogFn =>
    (obj: object | string, msg?: string) => {
      const fn = log[name] as (obj: object | string, msg?: string) => void;
      if (typeof obj === 'string') fn.call(log, redactor.text(obj));
      else if (msg === undefined) fn.call(log, redactor.value(obj));
      else fn.call(log, redactor.value(obj), redactor.text(msg));
    };
  return {
    debug: level('debug'),
    info: level('info'),
    warn: level('warn'),
    error: level('error'),
    child: (bindings) => redactingLogger(log.child(redactor.value(bindings)), redactor),
  };
}
