import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return tsFiles(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

describe('dist/ under test', () => {
  it('is built from the current sources (the globalSetup builds it before every run)', () => {
    const src = join(ROOT, 'src');
    const stale = tsFiles(src).filter((file) => {
      const built = join(ROOT, 'dist', relative(src, file).replace(/\.ts$/, '.js'));
      try {
        return statSync(built).mtimeMs < statSync(file).mtimeMs;
      } catch {
        return true;
      }
    });
    expect(stale.map((f) => relative(ROOT, f))).toEqual([]);
  });
});
