import { z } from 'zod';
import { MAX_TIMER_MS, NAME_PATTERN } from '../protocol/task.ts';

/**
 * Field schemas shared by the config schema. Every message says what was expected and shows
 * what was given, because the person reading it is fixing a file or an environment variable.
 */

/** A value as the user wrote it, short enough for one line of an error message. */
export function show(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'bigint') return `${value}n`;
  const text = JSON.stringify(value) ?? (typeof value === 'function' ? 'a function' : String(value as symbol | undefined));
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

type Floor = 'positive' | 'non-negative';

function wholeNumber(floor: Floor, unit: string) {
  const error = (issue: { input?: unknown }) => `expected a ${floor} integer${unit}, got ${show(issue.input)}`;
  return z
    .number({ error })
    .int({ error })
    .min(floor === 'positive' ? 1 : 0, { error });
}

/** A count: `positive` is >= 1, `non-negative` is >= 0. */
export const count = (floor: Floor = 'positive') => wholeNumber(floor, '');

/**
 * Milliseconds. Strings such as "30s" are refused: config takes integers so units never guess.
 * At most MAX_TIMER_MS: every one of them ends up in a timer, which overflows beyond it.
 */
export const ms = (floor: Floor = 'positive') =>
  wholeNumber(floor, ' number of milliseconds').max(MAX_TIMER_MS, {
    error: (issue) => `expected at most ${MAX_TIMER_MS} ms (about 24.8 days; a longer Node.js timer overflows and fires at once), got ${show(issue.input)}`,
  });

/** A file or directory path; relative ones resolve against the config file's directory. */
export const pathField = z
  .string({ error: (issue) => `expected a path (a string), got ${show(issue.input)}` })
  .min(1, 'expected a path, got an empty string');

/** Kind names, step names and breaker keys: safe as NATS subject tokens. */
export const nameField = z
  .string({ error: (issue) => `expected a name (a string), got ${show(issue.input)}` })
  .regex(NAME_PATTERN, { error: (issue) => `expected 1-64 characters of A-Z, a-z, 0-9, "_" or "-", got ${show(issue.input)}` });

/** A closed set of strings; the message lists the choices. */
export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, {
    error: (issue) => `expected one of ${values.map((v) => JSON.stringify(v)).join(', ')}, got ${show(issue.input)}`,
  });
}

/** A regular expression source. Compiled here so a typo fails at load, not on the first failure. */
export const regexSource = z.string().superRefine((source, ctx) => {
  try {
    new RegExp(source);
  } catch (err) {
    ctx.addIssue({
      code: 'custom',
      message: `${show(source)} is not a valid regular expression (${(err as Error).message}); escape characters such as "(" or "[" with a backslash`,
    });
  }
});

/** A program and its arguments, run without a shell. */
export const commandField = z
  .array(z.string({ error: (issue) => `expected a string argument, got ${show(issue.input)}` }), {
    error: (issue) => `expected an array of strings such as ["claude", "-p", "{{input.prompt}}"] (no shell), got ${show(issue.input)}`,
  })
  .min(1, 'expected at least the program to run, e.g. ["claude", "--version"]');

/** An environment for a child process: names to string values. */
export const envField = z.record(
  z.string(),
  z.string({ error: (issue) => `expected a string value (quote numbers: "1"), got ${show(issue.input)}` }),
);

/**
 * Messages for issues whose schema sets none: zod's defaults ("Invalid input: expected
 * string, received number") do not show the value that was given.
 */
export const configErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'is required';
      const article = /^[aeiou]/.test(issue.expected) ? 'an' : 'a';
      return `expected ${article} ${issue.expected}, got ${show(issue.input)}`;
    }
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => show(v)).join(', ')}, got ${show(issue.input)}`;
    case 'unrecognized_keys':
      return `unknown key ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
    default:
      return undefined;
  }
};
