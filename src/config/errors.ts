import type { z } from 'zod';
import { ErrorCode, ReeveError, type ReeveErrorOptions } from '../errors.ts';
import { knownKeysAt } from './schema-walk.ts';
import { closestKey } from './suggest.ts';

/** One problem in the configuration: a dotted path (`agents.build.timeoutMs`) and what to fix. */
export interface ConfigIssue {
  /** Dotted path of the field; an environment variable's name; or '' for the file as a whole. */
  path: string;
  message: string;
}

/**
 * The configuration cannot be used. The message starts with the file (or "configuration" when
 * there is none) and gives each issue on its own line as `path: message`.
 */
export class ConfigError extends ReeveError {
  override name = 'ConfigError';
  readonly issues: readonly ConfigIssue[];
  readonly file: string | undefined;

  constructor(file: string | undefined, issues: readonly ConfigIssue[], options: ReeveErrorOptions = {}) {
    super(ErrorCode.ConfigInvalid, formatMessage(file, issues), {
      ...options,
      data: { ...options.data, file, issues },
    });
    this.issues = issues;
    this.file = file;
  }
}

function formatMessage(file: string | undefined, issues: readonly ConfigIssue[]): string {
  const source = file ?? 'configuration';
  const lines = issues.map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message));
  if (lines.length === 1 && !issues[0]!.path) return `${source}: ${lines[0]}`;
  const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
  return `${source}: ${count} to fix:\n${lines.join('\n')}`;
}

export function dotted(path: readonly PropertyKey[]): string {
  return path.map(String).join('.');
}

export function unknownKeyMessage(key: string, known: readonly string[] | undefined): string {
  const head = `unknown key "${key}"`;
  if (!known || known.length === 0) return `${head}; remove it`;
  const near = closestKey(key, known);
  if (near !== undefined) return `${head} (did you mean "${near}"?)`;
  return `${head}; remove it, or use one of: ${known.join(', ')}`;
}

/**
 * Zod issues as config issues: one issue per unknown key (with a suggestion), record-key
 * issues with the key's own message, and a note on values that came from the environment.
 *
 * @param origins  dotted paths set by environment variables, and the variable that set each.
 */
export function configIssuesFrom(
  issues: readonly z.core.$ZodIssue[],
  schema: z.ZodType,
  input: unknown,
  origins: ReadonlyMap<string, string>,
): ConfigIssue[] {
  const out: ConfigIssue[] = [];
  const add = (path: readonly PropertyKey[], message: string) => {
    out.push({ path: dotted(path), message: message + originNote(dotted(path), origins) });
  };
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(schema, input, issue.path);
      for (const key of issue.keys) add([...issue.path, key], unknownKeyMessage(key, known));
    } else if (issue.code === 'invalid_key') {
      add(issue.path, `invalid name: ${issue.issues.map((inner) => inner.message).join('; ')}`);
    } else {
      add(issue.path, issue.message);
    }
  }
  return out;
}

/** ` (from REEVE_X)` when the value at `path`, or an object holding it, came from the environment. */
function originNote(path: string, origins: ReadonlyMap<string, string>): string {
  for (const [set, variable] of origins) {
    if (path === set || path.startsWith(`${set}.`)) return ` (from ${variable})`;
  }
  return '';
}
