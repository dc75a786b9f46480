import type { z } from 'zod';
import { isPlainObject, presentKeys, variantsOf } from './one-of-by-key.ts';

/**
 * Reads the config schema's structure: which keys an object has, what a record or array
 * holds. Environment overrides use it to map `REEVE_NODE__CONCURRENCY` onto `node.concurrency`,
 * and error messages use it to suggest the key a typo meant.
 */
export type SchemaNode =
  | { kind: 'object'; fields: Readonly<Record<string, z.ZodType>> }
  | { kind: 'record'; value: z.ZodType }
  | { kind: 'array'; element: z.ZodType }
  | { kind: 'leaf' };

/** Wrappers whose inner schema describes the structure. */
const WRAPPERS = new Set(['default', 'prefault', 'optional', 'nullable', 'readonly', 'catch', 'nonoptional']);

/**
 * The structure of `schema`. `value` is the data at that place: for a variant schema
 * (`{ module }` | `{ command }` | `{ steps }`) it picks the variant by its key; with none or
 * several present, the node offers the keys of all variants.
 */
export function nodeOf(schema: z.ZodType, value: unknown): SchemaNode {
  const variants = variantsOf.get(schema);
  if (variants) {
    const present = presentKeys(value, Object.keys(variants));
    const chosen = present.length === 1 ? [variants[present[0]!]!] : Object.values(variants);
    const fields: Record<string, z.ZodType> = {};
    for (const variant of chosen) {
      const node = nodeOf(variant, value);
      if (node.kind === 'object') Object.assign(fields, node.fields);
    }
    return { kind: 'object', fields };
  }
  const def = schema.def as unknown as Record<string, unknown> & { type: string };
  if (WRAPPERS.has(def.type)) return nodeOf(def['innerType'] as z.ZodType, value);
  if (def.type === 'pipe') {
    // A preprocess or transform sits on the input side of its pipe; the structure is the output's.
    const input = def['in'] as z.ZodType;
    const side = ['transform', 'unknown'].includes(input.def.type) ? (def['out'] as z.ZodType) : input;
    return nodeOf(side, value);
  }
  if (def.type === 'object') return { kind: 'object', fields: def['shape'] as Record<string, z.ZodType> };
  if (def.type === 'record') return { kind: 'record', value: def['valueType'] as z.ZodType };
  if (def.type === 'array') return { kind: 'array', element: def['element'] as z.ZodType };
  return { kind: 'leaf' };
}

/**
 * The keys an object at `path` may have, following `path` through `root` and the data
 * `rootValue` alongside it; undefined when the path leads to no object schema.
 */
export function knownKeysAt(root: z.ZodType, rootValue: unknown, path: readonly PropertyKey[]): string[] | undefined {
  let schema: z.ZodType | undefined = root;
  let value = rootValue;
  for (const segment of path) {
    const node = nodeOf(schema, value);
    schema = childSchema(node, segment);
    if (!schema) return undefined;
    value = isPlainObject(value) || Array.isArray(value) ? (value as Record<PropertyKey, unknown>)[segment] : undefined;
  }
  const node = nodeOf(schema, value);
  return node.kind === 'object' ? Object.keys(node.fields) : undefined;
}

function childSchema(node: SchemaNode, segment: PropertyKey): z.ZodType | undefined {
  switch (node.kind) {
    case 'object':
      return typeof segment === 'string' && Object.hasOwn(node.fields, segment) ? node.fields[segment] : undefined;
    case 'record':
      return node.value;
    case 'array':
      return node.element;
    default:
      return undefined;
  }
}
