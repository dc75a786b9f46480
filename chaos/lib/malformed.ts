import type { Rng } from './rng.ts';

/** One malformed submission: every one is invalid by construction and must be rejected. */
export interface Malformed {
  category: string;
  body: string | Uint8Array;
  /** A `Nats-Msg-Id` header. */
  header?: string;
}

const MIB = 1024 * 1024;

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** Deep input as text without recursion (JSON.stringify of 10,000 levels would throw here too). */
function deepText(depth: number): string {
  return `${'['.repeat(depth)}1${']'.repeat(depth)}`;
}

const json = (v: unknown) => JSON.stringify(v);

/**
 * The generators, by category. `i` makes ids unique, so a rejected message can be told apart
 * from the others in dead letters and events.
 */
const generators: Array<[weight: number, (r: Rng, i: number) => Malformed]> = [
  [10, (r) => ({ category: 'invalid-json', body: r.pick(['{', '{"kind":"echo"', '', ' ', 'kind=echo', '{"kind":"echo",}', "{'kind':'echo'}", '{"kind":"echo"}}', r.string(r.int(1, 80), '{}[]":,abc0 \n')]) })],
  [4, (r) => ({ category: 'not-utf8', body: Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, ...Array.from({ length: r.int(0, 40) }, () => r.int(128, 255))]) })],
  [8, (r) => ({ category: 'not-an-object', body: r.pick(['[]', '[{"kind":"echo"}]', '42', '"echo"', 'null', 'true', '-1e999']) })],
  [10, (r, i) => ({ category: 'wrong-types', body: json(r.pick<Record<string, unknown>>([
    { id: `fz-${i}`, kind: 42 }, { id: `fz-${i}`, kind: ['echo'] }, { id: `fz-${i}`, kind: null }, { id: i, kind: 'echo' },
    { id: `fz-${i}`, kind: 'echo', priority: '1' }, { id: `fz-${i}`, kind: 'echo', priority: 1.5 }, { id: `fz-${i}`, kind: 'echo', priority: 1e12 },
    { id: `fz-${i}`, kind: 'echo', timeoutMs: 0 }, { id: `fz-${i}`, kind: 'echo', timeoutMs: -5 }, { id: `fz-${i}`, kind: 'echo', timeoutMs: 'soon' },
    { id: `fz-${i}`, kind: 'echo', labels: [] }, { id: `fz-${i}`, kind: 'echo', labels: { 'a b': 'x' } }, { id: `fz-${i}`, kind: 'echo', labels: { a: 1 } },
    { id: `fz-${i}`, kind: 'echo', breakerKey: 'has space' }, { id: `fz-${i}`, kind: 'echo', extra: true },
  ])) })],
  [6, (r, i) => ({ category: 'missing-kind', body: json(r.pick<Record<string, unknown>>([{}, { id: `fz-${i}` }, { id: `fz-${i}`, input: { a: 1 } }])) })],
  [10, (r, i) => ({ category: 'bad-id', body: json({ id: r.pick(['', 'a b', 'a.b', '*', '>', 'x'.repeat(129), `fz-${i}\n`, `fz/${i}`, 'ü']), kind: 'echo' }) })],
  [8, (r, i) => ({ category: 'bad-kind', body: json({ id: `fz-${i}`, kind: r.pick(['', 'no space', 'k'.repeat(65), 'a.b', `unknown-${r.string(6)}`]) }) })],
  [8, (r, i) => {
    const withId = r.chance(0.5);
    return { category: 'msg-id-mismatch', header: `hdr-${i}`, body: json(withId ? { id: `fz-${i}`, kind: 'echo' } : { kind: 'echo' }) };
  }],
  [2, (r, i) => ({ category: 'huge-input', body: json({ id: `fz-${i}`, kind: 'echo', input: 'x'.repeat(r.pick([MIB + 10, MIB + 40_000, 2 * MIB])) }) })],
  [2, (r, i) => ({ category: 'deep-input', body: `{"id":"fz-${i}","kind":"echo","input":${deepText(r.pick([513, 600, 2000, 10_000]))}}` })],
  [1, (r, i) => ({ category: 'deep-labels', body: json({ id: `fz-${i}`, kind: 'echo', labels: nested(r.int(20, 200)) }) })],
];

const total = generators.reduce((sum, [w]) => sum + w, 0);

export function malformed(r: Rng, i: number): Malformed {
  let pick = r.int(1, total);
  for (const [weight, gen] of generators) {
    pick -= weight;
    if (pick <= 0) return gen(r, i);
  }
  return generators[0]![1](r, i);
}
