import { describe, expect, it } from 'vitest';
import { importsOf, sourceFiles, type SourceImport as Import } from '../support/source-imports.ts';

/**
 * typescript-eslint does not run on TypeScript 7, so this test guards DESIGN.md's layering:
 * machines are pure, ports are types, actors never reach an adapter.
 */
const all = sourceFiles().flatMap((file) => importsOf(file));
const layer = (path: string) => path.split('/')[0]!;
const violations = (pred: (i: Import) => string | undefined) =>
  all.flatMap((i) => {
    const why = pred(i);
    return why ? [`${i.file} imports ${i.specifier}: ${why}`] : [];
  });

describe('layering of src/', () => {
  it('finds the imports it checks', () => {
    expect(all.length).toBeGreaterThan(20);
    expect(all.some((i) => i.file.startsWith('machines/') && i.specifier === 'xstate')).toBe(true);
  });

  it('keeps machines pure: only xstate, other machines, protocol types and errors', () => {
    expect(
      violations((i) => {
        if (layer(i.file) !== 'machines') return undefined;
        if (i.specifier === 'xstate') return undefined;
        if (i.target && ['machines', 'errors.ts'].includes(layer(i.target))) return undefined;
        if (i.target && layer(i.target) === 'protocol' && (i.typeOnly || !i.target.includes('validate'))) return undefined;
        return 'machines may import only xstate, machines, protocol and errors (no I/O, no clock, no adapters)';
      }),
    ).toEqual([]);
  });

  it('keeps ports to type-only imports', () => {
    expect(violations((i) => (layer(i.file) === 'ports' && !i.typeOnly ? 'ports are interfaces: use `import type`' : undefined))).toEqual([]);
  });

  it('lets actors use ports and machines but never an adapter', () => {
    const adapters = ['store', 'transport', 'pool', 'notify', 'cli', 'http', 'node.ts', 'node'];
    expect(
      violations((i) => {
        if (layer(i.file) !== 'actors') return undefined;
        if (i.target && adapters.includes(layer(i.target))) return 'actors depend on ports, not adapters (wire them in node.ts)';
        if (!i.target && /^(better-sqlite3|@nats-io\/|piscina|execa)/.test(i.specifier)) return 'actors must not use a driver directly';
        return undefined;
      }),
    ).toEqual([]);
  });

  it('keeps adapters apart: store, transport, pool and notify do not import each other, actors or the CLI', () => {
    const adapters = ['store', 'transport', 'pool', 'notify'];
    expect(
      violations((i) => {
        const from = layer(i.file);
        if (!adapters.includes(from) || !i.target) return undefined;
        const to = layer(i.target);
        if (to !== from && [...adapters, 'actors', 'cli', 'http', 'node.ts'].includes(to)) return `${from} must not depend on ${to}`;
        return undefined;
      }),
    ).toEqual([]);
  });

  it('keeps protocol and errors free of runtime layers', () => {
    expect(
      violations((i) => {
        const from = layer(i.file);
        if (!['protocol', 'errors.ts'].includes(from)) return undefined;
        if (!i.target) return i.specifier === 'zod' ? undefined : 'protocol imports only zod';
        return ['protocol', 'errors.ts'].includes(layer(i.target)) ? undefined : 'protocol may import only protocol and errors';
      }),
    ).toEqual([]);
  });
});
