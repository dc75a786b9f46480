import { describe, expect, it } from 'vitest';
import { importCycles, importsOf, sourceFiles, type SourceImport } from '../support/source-imports.ts';

/**
 * No file of src/ reaches itself through its imports, counting `import type` and lazy
 * `import('…')` too: a cycle makes the load order matter and the layers impossible to read.
 */
const imports = sourceFiles().flatMap((file) => importsOf(file));

const edge = (file: string, target: string, extra: Partial<SourceImport> = {}): SourceImport => ({
  file,
  specifier: `./${target}`,
  typeOnly: false,
  lazy: false,
  target,
  ...extra,
});

describe('imports of src/', () => {
  it('form no cycle, static, type-only or lazy', () => {
    expect(importCycles(imports).map((files) => `cycle among: ${files.join(', ')}`)).toEqual([]);
  });

  it('are all read, lazy ones included', () => {
    expect(imports.length).toBeGreaterThan(300);
    expect(imports.some((i) => i.typeOnly && i.target)).toBe(true);
    expect(imports.some((i) => i.lazy)).toBe(true);
  });

  it('would find a cycle through a type-only or a lazy import', () => {
    expect(importCycles([edge('a.ts', 'b.ts'), edge('b.ts', 'a.ts', { typeOnly: true })])).toEqual([['a.ts', 'b.ts']]);
    expect(importCycles([edge('a.ts', 'b.ts'), edge('b.ts', 'c.ts'), edge('c.ts', 'a.ts', { lazy: true })])).toEqual([['a.ts', 'b.ts', 'c.ts']]);
    expect(importCycles([edge('a.ts', 'b.ts'), edge('b.ts', 'c.ts')])).toEqual([]);
  });
});
