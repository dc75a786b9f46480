import type { z } from 'zod';
import { dotted, type ConfigIssue } from './errors.ts';
import { show } from './fields.ts';
import { isPlainObject } from './one-of-by-key.ts';
import { nodeOf } from './schema-walk.ts';
import { didYouMean } from './suggest.ts';

/**
 * `REEVE_<PATH>` environment variables override the file: `__` separates levels, and each
 * level matches a schema key, or an entry the file defines (an agent), case-insensitively:
 * `REEVE_NODE__CONCURRENCY=4`, `REEVE_AGENTS__ECHO__TIMEOUTMS=100`.
 */

const PREFIX = 'REEVE_';
/** Variables that are not overrides. */
const NOT_OVERRIDES = new Set(['REEVE_CONFIG']);

export interface EnvOverrides {
  /** The configuration with the overrides applied; the input is not changed. */
  value: Record<string, unknown>;
  /** Dotted path of each value set, and the variable that set it (for error messages). */
  origins: Map<string, string>;
  /** Variables that name no known key, keyed by the variable's name. */
  issues: ConfigIssue[];
}

type Segment = string | number;

export function applyEnvOverrides(
  schema: z.ZodType,
  raw: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>>,
): EnvOverrides {
  const value = cloneData(raw) as Record<string, unknown>;
  const origins = new Map<string, string>();
  const issues: ConfigIssue[] = [];
  for (const name of Object.keys(env).sort()) {
    const text = env[name];
    if (!name.startsWith(PREFIX) || NOT_OVERRIDES.has(name) || text === undefined) continue;
    const target = locate(schema, value, name.slice(PREFIX.length).split('__'));
    if (typeof target === 'string') {
      issues.push({ path: name, message: `names no configuration key: ${target}` });
      continue;
    }
    setAt(value, target.path, envValue(target.schema, text));
    origins.set(dotted(target.path), name);
  }
  return { value, origins, issues };
}

/** The canonical path and schema a variable's segments name, or why they name none. */
function locate(root: z.ZodType, data: unknown, segments: string[]): { path: Segment[]; schema: z.ZodType } | string {
  if (segments.some((s) => s === '')) return 'a level is empty; separate levels with "__", e.g. REEVE_NODE__CONCURRENCY';
  let schema = root;
  let current = data;
  const path: Segment[] = [];
  for (const segment of segments) {
    const where = path.length === 0 ? 'the top level' : dotted(path);
    const node = nodeOf(schema, current);
    if (node.kind !== 'leaf' && current !== undefined && !isPlainObject(current) && !Array.isArray(current)) {
      return `${where} is ${show(current)} in the config file, not an object; fix the file first`;
    }
    let key: Segment | undefined;
    if (node.kind === 'object') {
      const keys = Object.keys(node.fields);
      key = matchKey(segment, keys);
      if (key === undefined) return `"${segment}" is not a key of ${where}${didYouMean(segment, keys)}`;
      schema = node.fields[key]!;
    } else if (node.kind === 'record') {
      const keys = isPlainObject(current) ? Object.keys(current) : [];
      key = matchKey(segment, keys);
      if (key === undefined) {
        const existing = keys.length ? `it has ${keys.join(', ')}` : 'it has none';
        return `${where} has no entry "${segment}" (${existing}); the environment can change entries the config file defines, not add them`;
      }
      schema = node.value;
    } else if (node.kind === 'array') {
      const length = Array.isArray(current) ? current.length : 0;
      key = /^\d+$/.test(segment) && Number(segment) < length ? Number(segment) : undefined;
      if (key === undefined) return `"${segment}" is not an index of ${where} (it has ${length} entries)`;
      schema = node.element;
    } else {
      return `${where} is a single value; it has no key "${segment}"`;
    }
    path.push(key);
    current = isPlainObject(current) || Array.isArray(current) ? (current as Record<Segment, unknown>)[key] : undefined;
  }
  return { path, schema };
}

/** Case-insensitive; an exact match wins when keys differ only by case. */
function matchKey(segment: string, keys: readonly string[]): string | undefined {
  if (keys.includes(segment)) return segment;
  const matches = keys.filter((k) => k.toLowerCase() === segment.toLowerCase());
  return matches.length === 1 ? matches[0] : undefined;
}

/**
 * The value a variable's text stands for. A field that expects an array takes a JSON array or
 * `a,b,c`. Otherwise text the field accepts as it is stays a string (so a token of digits is
 * not turned into a number), and anything else is read as JSON (numbers, booleans, objects).
 */
function envValue(schema: z.ZodType, text: string): unknown {
  const json = parseJson(text);
  const node = nodeOf(schema, undefined);
  if (node.kind === 'array') {
    if (json.ok && Array.isArray(json.value)) return json.value;
    return text
      .split(',')
      .map((part) => part.trim())
      .filter((part) => part !== '')
      .map((part) => envValue(node.element, part));
  }
  if (schema.safeParse(text).success) return text;
  return json.ok ? json.value : text;
}

function parseJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

/** Sets `value` at `path`, creating the objects on the way that the file left out. */
function setAt(root: Record<string, unknown>, path: Segment[], value: unknown): void {
  let holder: Record<Segment, unknown> = root;
  for (const key of path.slice(0, -1)) {
    // locate() refused non-objects on the way, so only absent levels are created.
    holder[key] ??= {};
    holder = holder[key] as Record<Segment, unknown>;
  }
  holder[path.at(-1)!] = value;
}

/** A copy of plain objects and arrays, so overrides never write into a loaded module's export. */
export function cloneData(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneData);
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, cloneData(v)]));
  return value;
}
