/**
 * The logging surface actors use: pino's, so a pino logger satisfies it, and tests can pass a
 * recorder. Fields first, short constant message: `log.warn({ err, code }, 'lease lost')`.
 */
export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}

/** Logs nothing: for callers that report through return values and exit codes (the CLI, clients). */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => silentLogger };
