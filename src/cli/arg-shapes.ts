import { InvalidInputError } from '../errors.ts';
import { NAME_PATTERN, TASK_ID_PATTERN, WS_URL_PATTERN } from '../protocol/patterns.ts';

/**
 * Parsers for CLI values that have a contract shape (kind names, task ids, node ids, integers).
 * Each throws INVALID_INPUT naming the option, so a bad value is exit 2 before any store is
 * opened, instead of reaching the store as a filter that matches nothing (or everything: an
 * empty `--kind` used to list every task).
 */

function invalid(option: string, message: string): InvalidInputError {
  return new InvalidInputError(option, [{ path: option, message }]);
}

const shown = (value: string) => JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);

function matching(option: string, pattern: RegExp, what: string) {
  return (value: string): string => {
    if (!pattern.test(value)) throw invalid(option, `must be ${what} (got ${shown(value)})`);
    return value;
  };
}

/** A kind name or breaker key: `[A-Za-z0-9_-]{1,64}`. */
export const kindName = (option: string) => matching(option, NAME_PATTERN, '1-64 characters of A-Z, a-z, 0-9, "_" or "-"');

/** A task id: `[A-Za-z0-9_-]{1,128}`. */
export const taskId = (option: string) => matching(option, TASK_ID_PATTERN, '1-128 characters of A-Z, a-z, 0-9, "_" or "-"');

/** A node id, as node/node-id.ts writes them: `[A-Za-z0-9_-]{1,64}`. */
export const nodeId = (option: string) => matching(option, NAME_PATTERN, 'a node id: 1-64 characters of A-Z, a-z, 0-9, "_" or "-" (see reeve status)');

/** A WebSocket URL: `ws://host:port/path` or `wss://…`. */
export const wsUrl = (option: string) => matching(option, WS_URL_PATTERN, 'a WebSocket URL such as ws://127.0.0.1:8080');

/** An integer written in decimal digits, between `min` and `max` ("1e3", "0x10", " " and "" are refused). */
export function integer(option: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value) || n < min || n > max) throw invalid(option, `must be an integer from ${min} to ${max} (got ${shown(value)})`);
    return n;
  };
}

/** Free text an operator records (a reason, a name): not blank. */
export function text(option: string) {
  return (value: string): string => {
    if (value.trim() === '') throw invalid(option, 'must not be empty');
    return value;
  };
}

/** A file path: an empty one would silently mean "search the working directory". */
export function filePath(option: string) {
  return (value: string): string => {
    if (value.trim() === '') throw invalid(option, 'must be a file path, e.g. --config ./reeve.config.json');
    return value;
  };
}

/** Checks a positional argument (commander gives them unparsed) and returns it. */
export function checkArg<T>(value: string | undefined, parse: (value: string) => T): T {
  return parse(value ?? '');
}

/** DESIGN.md: a task's `input` is "nested at most 512 levels deep". */
export const MAX_INPUT_DEPTH = 512;

/**
 * How deeply `value` nests arrays and objects (a scalar is 0, `[]` is 1), counting no further
 * than `limit + 1`. Iterative: a recursive walk (the schema's, JSON.stringify) overflows the
 * stack on input nested some thousands deep, which used to surface as exit 5 (INTERNAL).
 */
export function jsonDepth(value: unknown, limit = MAX_INPUT_DEPTH): number {
  let deepest = 0;
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    if (typeof item !== 'object' || item === null) continue;
    deepest = Math.max(deepest, depth + 1);
    if (deepest > limit) return deepest;
    for (const child of Object.values(item)) stack.push([child, depth + 1]);
  }
  return deepest;
}
