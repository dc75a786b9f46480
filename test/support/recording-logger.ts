import type { Logger } from '../../src/ports/logger.ts';

export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  fields: Record<string, unknown>;
  msg: string | undefined;
}

/** A Logger that keeps every line, for assertions. Children share the parent's lines. */
export function recordingLogger(lines: LogLine[] = [], bindings: Record<string, unknown> = {}): Logger & { lines: LogLine[] } {
  const at = (level: LogLine['level']) => (obj: object | string, msg?: string) => {
    if (typeof obj === 'string') lines.push({ level, fields: { ...bindings, at: Date.now() }, msg: obj });
    else lines.push({ level, fields: { ...bindings, ...(obj as Record<string, unknown>), at: Date.now() }, msg });
  };
  return {
    lines,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    child: (more) => recordingLogger(lines, { ...bindings, ...more }),
  };
}
