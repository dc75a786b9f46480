import { z } from 'zod';
import { closestKey } from './suggest.ts';
import { configErrorMap, show } from './fields.ts';

/**
 * Variants told apart by which key is present, as in `{ module }` | `{ command }` | `{ steps }`.
 *
 * A plain `z.union` of strict objects reports every branch's failures at once ("Invalid input"),
 * which hides the one real problem. Here the key picks the branch first, so the issues are the
 * chosen branch's own, with their full paths, and "none" or "two of them" gets its own message.
 */

/** The variants of each schema built here, so the schema walker can see through it. */
export const variantsOf = new WeakMap<z.ZodType, Readonly<Record<string, z.ZodType>>>();

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The variant keys present in `value` (an empty list when it is not an object). */
export function presentKeys(value: unknown, keys: readonly string[]): string[] {
  return isPlainObject(value) ? keys.filter((key) => Object.hasOwn(value, key)) : [];
}

type Variants = Record<string, z.ZodType>;

/**
 * @param what  the thing being configured, for messages ("an agent").
 * @param variants  the key that selects each variant, and its strict object schema.
 * @param hints  an example of each variant, shown when the key is missing or duplicated.
 */
export function oneOfByKey<V extends Variants>(
  what: string,
  variants: V,
  hints: { [K in keyof V]: string },
  /** What to say when two keys are present, after "keep one of them". */
  several = ' (to run several handlers in order, use "steps")',
): z.ZodType<z.output<V[keyof V]>, z.input<V[keyof V]>> {
  const keys = Object.keys(variants);
  const quoted = keys.map((k) => `"${k}"`);
  const choices = `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
  const examples = keys.map((k) => `"${k}": ${hints[k]}`).join(', ');

  const schema = z.unknown().transform((value, ctx) => {
    if (!isPlainObject(value)) {
      ctx.addIssue({ code: 'custom', message: `expected ${what} (an object with ${choices}), got ${show(value)}` });
      return z.NEVER;
    }
    const present = presentKeys(value, keys);
    if (present.length !== 1) {
      ctx.addIssue({ code: 'custom', message: ambiguity(what, choices, examples, present, value, keys, several) });
      return z.NEVER;
    }
    const result = variants[present[0]!]!.safeParse(value, { error: configErrorMap });
    if (result.success) return result.data as z.output<V[keyof V]>;
    for (const issue of result.error.issues) {
      // Re-raised issues are already final: keep their message and code, copy the path so the
      // parent's prefixing does not touch the discarded result.
      ctx.addIssue({ ...issue, path: [...issue.path] } as Parameters<typeof ctx.addIssue>[0]);
    }
    return z.NEVER;
  });
  variantsOf.set(schema, variants);
  return schema as unknown as z.ZodType<z.output<V[keyof V]>, z.input<V[keyof V]>>;
}

function ambiguity(
  what: string,
  choices: string,
  examples: string,
  present: string[],
  value: Record<string, unknown>,
  keys: string[],
  several: string,
): string {
  const head = `${what} needs exactly one of ${choices}`;
  if (present.length > 1) {
    const found = present.map((k) => `"${k}"`).join(' and ');
    return `${head}, found ${found}; keep one of them${several}`;
  }
  const typo = Object.keys(value)
    .map((key) => ({ key, near: closestKey(key, keys) }))
    .find((t) => t.near !== undefined);
  const guess = typo ? ` (did you mean "${typo.near}" instead of "${typo.key}"?)` : '';
  return `${head}, found none${guess}; add one, e.g. ${examples}`;
}
