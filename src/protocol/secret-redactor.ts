/**
 * The config's `secrets`, found and replaced by `[redacted]` wherever Reeve writes text a person
 * may read: run logs, the node's log lines (fields, messages, errors, bindings), a module agent's
 * `ctx.log`. One definition of what counts as a secret, so every path hides the same strings.
 */
export const REDACTED = '[redacted]';

// A 1-3 character "secret" ("1", "dev", "yes") would match all over ordinary output and shred
// the log, while a value that short is guessable in a few tries anyway: redacting it costs the
// log its use and protects nothing.
const MIN_SECRET_CHARS = 4;

export class SecretRedactor {
  /** Characters a partial line must keep so a secret split across chunks is still found whole. */
  readonly lookbehind: number;
  private readonly secrets: readonly string[];
  private readonly pattern: RegExp;
  private readonly jsonPattern: RegExp;

  /** Use `createSecretRedactor`: it returns none when there is nothing to redact. */
  constructor(parts: readonly string[]) {
    this.secrets = parts;
    this.lookbehind = Math.max(0, (parts[0]?.length ?? 0) - 1);
    this.pattern = alternation(parts);
    // Inside JSON a secret holding `"`, `\` or a control character is escaped: that form is what
    // a serialised log line holds. Longest first, so an escaped form wins over a raw prefix of it.
    const escaped = [...new Set(parts.map((s) => JSON.stringify(s).slice(1, -1)))].sort((a, b) => b.length - a.length);
    this.jsonPattern = alternation(escaped);
  }

  /** Replaces every secret in plain text. */
  text(text: string): string {
    return text.replace(this.pattern, REDACTED);
  }

  /** Replaces every secret in serialised JSON (a pino line): the result is still valid JSON. */
  json(text: string): string {
    return text.replace(this.jsonPattern, REDACTED);
  }

  /**
   * `value` with every secret replaced in its strings (object keys, Error messages, stacks and
   * causes included), copied only where something changed: a log field without secrets is
   * passed on as it is. Errors stay errors of their own class, so log serialisers treat them
   * as before.
   */
  value<T>(value: T): T {
    return this.walk(value, new Map()) as T;
  }

  /** The largest index ≤ `cut` that does not fall inside an occurrence of a secret. */
  safeCut(text: string, cut: number): number {
    for (let moved = true; moved && cut > 0; ) {
      moved = false;
      for (const s of this.secrets) {
        for (let i = text.indexOf(s, Math.max(0, cut - s.length + 1)); i !== -1 && i < cut; i = text.indexOf(s, i + 1)) {
          if (i + s.length > cut) {
            cut = i;
            moved = true;
            break;
          }
        }
      }
    }
    return cut;
  }

  private walk(value: unknown, seen: Map<object, unknown>): unknown {
    if (typeof value === 'string') return this.text(value);
    if (typeof value !== 'object' || value === null) return value;
    if (seen.has(value)) return seen.get(value);
    seen.set(value, value); // a cycle back to an object being copied keeps the original
    let copy: unknown = value;
    if (Array.isArray(value)) copy = this.walkArray(value, seen);
    else if (value instanceof Error) copy = this.walkError(value, seen);
    else if (isPlain(value)) copy = this.walkObject(value as Record<string, unknown>, seen);
    seen.set(value, copy);
    return copy;
  }

  private walkArray(value: readonly unknown[], seen: Map<object, unknown>): unknown[] {
    const out = value.map((v) => this.walk(v, seen));
    return out.some((v, i) => v !== value[i]) ? out : (value as unknown[]);
  }

  private walkObject(value: Record<string, unknown>, seen: Map<object, unknown>): Record<string, unknown> {
    let changed = false;
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      const k = this.text(key);
      const w = this.walk(v, seen);
      if (k !== key || w !== v) changed = true;
      out[k] = w;
    }
    return changed ? out : value;
  }

  private walkError(err: Error, seen: Map<object, unknown>): Error {
    // message and stack are own, non-enumerable properties of an Error; code, data, cause may be either.
    const names = Object.getOwnPropertyNames(err);
    if (!names.includes('stack') && err.stack !== undefined) names.push('stack');
    const descriptors: PropertyDescriptorMap = {};
    let changed = false;
    for (const name of names) {
      const own = Object.getOwnPropertyDescriptor(err, name);
      const v: unknown = own && 'value' in own ? own.value : (err as unknown as Record<string, unknown>)[name];
      const w = this.walk(v, seen);
      if (w !== v) changed = true;
      descriptors[name] = { value: w, writable: true, configurable: true, enumerable: own?.enumerable ?? false };
    }
    return changed ? (Object.create(Object.getPrototypeOf(err) as object, descriptors) as Error) : err;
  }
}

/** A redactor for these secrets, or undefined when none is long enough to redact. */
export function createSecretRedactor(secrets: readonly string[]): SecretRedactor | undefined {
  // Text is often redacted line by line, so a multi-line secret (a PEM key) is matched line by line.
  const parts = secrets.flatMap((s) => s.split(/\r?\n/)).filter((s) => s.length >= MIN_SECRET_CHARS);
  // Longest first: where two secrets start at the same place, the alternation takes the longer.
  const unique = [...new Set(parts)].sort((a, b) => b.length - a.length);
  return unique.length === 0 ? undefined : new SecretRedactor(unique);
}

function alternation(parts: readonly string[]): RegExp {
  return new RegExp(parts.map(escapeRegExp).join('|'), 'g');
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}
