import type { Json, StepRecord } from './task.ts';

/** Largest step output the record carries whole (UTF-8 JSON bytes); a larger one comes as `outputExcerpt`. */
export const STEP_OUTPUT_MAX_BYTES = 4096;

/**
 * The record's `steps` view, read from the saga snapshot that the store keeps with every task
 * (its `context.policy.steps`, `context.visits` and `context.outputs`), so both store adapters
 * give it without a column of their own and without another write. Read defensively: a snapshot
 * of another shape (an older version, a task that never ran) gives no view rather than an error.
 */
export function stepRecords(snapshot: unknown): StepRecord[] | undefined {
  const context = field(snapshot, 'context');
  const steps = field(field(context, 'policy'), 'steps');
  if (!Array.isArray(steps)) return undefined;
  const visits = field(context, 'visits');
  const outputs = field(context, 'outputs');
  const records: StepRecord[] = [];
  for (const step of steps) {
    const name = field(step, 'name');
    if (typeof name !== 'string') return undefined;
    const count = field(visits, name);
    const record: StepRecord = { name, visits: typeof count === 'number' ? count : 0 };
    const output = isObject(outputs) && Object.hasOwn(outputs, name) ? (outputs[name] as Json) : undefined;
    if (output !== undefined) Object.assign(record, capped(output));
    records.push(record);
  }
  return records;
}

/** The output whole, or a cut of its JSON text when that is over STEP_OUTPUT_MAX_BYTES. */
function capped(output: Json): Pick<StepRecord, 'output' | 'outputExcerpt'> {
  const text = JSON.stringify(output);
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= STEP_OUTPUT_MAX_BYTES) return { output };
  // A cut inside a multi-byte character decodes to U+FFFD: drop it rather than show garbage.
  const cut = bytes.subarray(0, STEP_OUTPUT_MAX_BYTES).toString('utf8').replace(/\uFFFD+$/, '');
  return { outputExcerpt: `${cut}… (${bytes.length} bytes)` };
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const field = (value: unknown, key: string): unknown => (isObject(value) && Object.hasOwn(value, key) ? value[key] : undefined);
