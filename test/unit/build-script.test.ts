import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../support/temp-dir.ts';

const BUILD = fileURLToPath(new URL('../../scripts/build.mjs', import.meta.url));

describe('scripts/build.mjs (npm run build, prepare)', () => {
  it('says TypeScript is missing and how to fix it in a checkout installed without dev dependencies', () => {
    const dir = tempDir('reeve-build-');
    try {
      // A checkout after `npm ci --omit=dev`: the script and package.json, no typescript.
      mkdirSync(join(dir.path, 'scripts'));
      copyFileSync(BUILD, join(dir.path, 'scripts', 'build.mjs'));
      writeFileSync(join(dir.path, 'package.json'), '{"name":"reeve","type":"module"}');
      const run = spawnSync(process.execPath, [join(dir.path, 'scripts', 'build.mjs')], { cwd: dir.path, encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '' } });
      expect(run.status).toBe(1);
      expect(run.stderr).toContain('needs TypeScript, a devDependency');
      expect(run.stderr).toContain('--omit=dev');
    } finally {
      dir.remove();
    }
  });
});
