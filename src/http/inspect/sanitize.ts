/**
 * What the inspector may see of a context or an event. A task's input, its step outputs and its
 * result never leave the node this way (only which steps produced output); messages are clipped,
 * and whatever is left is cut to `maxBytes` of JSON. Secrets are redacted from the serialized
 * message afterwards (see node-inspection.ts).
 */

const MESSAGE_CHARS = 300;

const clip = (text: string, max = MESSAGE_CHARS): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);
/** A message field as text, clipped (whatever type it arrived as). */
const clipped = (value: unknown): string => clip(typeof value === 'string' ? value : (JSON.stringify(value) ?? ''));

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * `value` as JSON of at most about `maxBytes`: strings are clipped and arrays and objects cut
 * shorter level by level until it fits; what is cut is marked (`…`, `"(3 more)"`).
 */
export function capJson(value: unknown, maxBytes: number): unknown {
  const text = JSON.stringify(value);
  if (text === undefined || text.length <= maxBytes) return value;
  for (const [chars, items, depth] of [[200, 20, 6], [80, 8, 4], [40, 4, 3]] as const) {
    const cut = shrink(value, chars, items, depth);
    if (JSON.stringify(cut).length <= maxBytes) return cut;
  }
  return { truncated: true, bytes: text.length };
}

function shrink(value: unknown, chars: number, items: number, depth: number): Json {
  if (typeof value === 'string') return clip(value, chars);
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value !== 'object') return null;
  if (depth === 0) return Array.isArray(value) ? `(${value.length} items)` : '(object)';
  if (Array.isArray(value)) {
    const kept = value.slice(0, items).map((v) => shrink(v, chars, items, depth - 1));
    return value.length > items ? [...kept, `(${value.length - items} more)`] : kept;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  const kept: Record<string, Json> = {};
  for (const [k, v] of entries.slice(0, items)) kept[k] = shrink(v, chars, items, depth - 1);
  if (entries.length > items) kept['…'] = `(${entries.length - items} more)`;
  return kept;
}

interface SagaLike {
  taskId?: unknown;
  policy?: { steps?: Array<{ name?: unknown }> };
  stepIndex?: unknown;
  visits?: unknown;
  completed?: unknown;
  outputs?: Record<string, unknown>;
  attempts?: unknown;
  availableAt?: unknown;
  result?: unknown;
  error?: { class?: unknown; code?: unknown; message?: unknown };
  outcome?: unknown;
  pendingCompensations?: unknown;
  compensations?: Array<{ step?: unknown; status?: unknown; at?: unknown; error?: unknown }>;
  note?: unknown;
}

/** A task saga's context, as the inspector shows it: where the task is, never what it carries. */
export function sagaContextView(context: unknown): Record<string, unknown> {
  const c = (context ?? {}) as SagaLike;
  const steps = Array.isArray(c.policy?.steps) ? c.policy.steps.map((s) => String(s?.name)) : [];
  const step = typeof c.stepIndex === 'number' ? steps[c.stepIndex] : undefined;
  return {
    taskId: c.taskId,
    step,
    stepIndex: c.stepIndex,
    steps,
    visits: c.visits,
    completed: c.completed,
    attempts: c.attempts,
    ...(c.availableAt === undefined ? {} : { availableAt: c.availableAt }),
    // Which steps produced output, not the output: it may be large or private.
    outputSteps: c.outputs && typeof c.outputs === 'object' ? Object.keys(c.outputs) : [],
    ...(c.result === undefined ? {} : { hasResult: true }),
    ...(c.error ? { error: { class: c.error.class, ...(c.error.code ? { code: c.error.code } : {}), message: clipped(c.error.message) } } : {}),
    ...(c.outcome === undefined ? {} : { outcome: c.outcome }),
    pendingCompensations: c.pendingCompensations,
    compensations: Array.isArray(c.compensations)
      ? c.compensations.map((x) => ({ step: x.step, status: x.status, at: x.at, ...(x.error === undefined ? {} : { error: clipped(x.error) }) }))
      : [],
    note: typeof c.note === 'string' ? clip(c.note) : c.note,
  };
}

/** Fields of an event that may carry payloads: left out (outputs, inputs, policies) or clipped. */
const DROPPED = new Set(['output', 'input', 'policy', 'result', 'settings']);

/** An event as the inspector shows it: its type and small facts, no payload. */
export function eventView(event: { type: string; [field: string]: unknown }): { type: string; [field: string]: unknown } {
  const view: { type: string; [field: string]: unknown } = { type: event.type };
  for (const [key, value] of Object.entries(event)) {
    if (key === 'type' || value === undefined) continue;
    if (DROPPED.has(key)) view[key] = '(left out)';
    else if (typeof value === 'string') view[key] = clip(value);
    else if (key === 'failure' && value && typeof value === 'object') {
      const f = value as { class?: unknown; code?: unknown; message?: unknown; retryAfterMs?: unknown };
      view[key] = { class: f.class, ...(f.code ? { code: f.code } : {}), message: clipped(f.message), ...(f.retryAfterMs === undefined ? {} : { retryAfterMs: f.retryAfterMs }) };
    } else view[key] = value;
  }
  return view;
}
