import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's `src/` folder. */
export const srcRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

export interface SourceImport {
  /** The importing file, relative to src/. */
  file: string;
  specifier: string;
  typeOnly: boolean;
  /** A lazy `import('…')`. */
  lazy: boolean;
  /** For a relative import: the target, relative to src/. */
  target?: string;
}

export function sourceFiles(dir: string = srcRoot): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : /\.(ts|mts)$/.test(name) ? [path] : [];
  });
}

/**
 * Every import of a source file, read as text: static imports and re-exports (`import type`
 * included) and lazy `import('…')` calls with a literal specifier. Good enough for Reeve's own
 * code, which keeps one import per statement and never builds a specifier at run time.
 */
export function importsOf(file: string, root: string = srcRoot): SourceImport[] {
  const text = readFileSync(file, 'utf8');
  const from = relative(root, file);
  const entry = (specifier: string, typeOnly: boolean, lazy: boolean): SourceImport => ({
    file: from,
    specifier,
    typeOnly,
    lazy,
    ...(specifier.startsWith('.') ? { target: relative(root, resolve(dirname(file), specifier)) } : {}),
  });
  const found: SourceImport[] = [];
  const statics = /^\s*(import|export)\s+(type\s+)?(?:[^'"]*?\s+from\s+)?['"]([^'"]+)['"]/gm;
  for (const m of text.matchAll(statics)) found.push(entry(m[3]!, Boolean(m[2]), false));
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) found.push(entry(m[1]!, false, true));
  return found;
}

/**
 * The import cycles among `files` (relative to src/), each as the list of files on it, found
 * with Tarjan's strongly connected components: a file that reaches itself is on a cycle.
 */
export function importCycles(imports: SourceImport[]): string[][] {
  const edges = new Map<string, Set<string>>();
  for (const i of imports) {
    if (!i.target) continue;
    if (!edges.has(i.file)) edges.set(i.file, new Set());
    edges.get(i.file)!.add(i.target);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || edges.get(v)?.has(v)) cycles.push(component.sort());
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return cycles;
}
