#!/usr/bin/env node
/**
 * `npm run build` (and `prepare`): compiles src/ into dist/ with the project's TypeScript 7.
 * The compiler is resolved by package, not through node_modules/.bin/tsc, which the
 * `typescript5` devDependency (for the consumer type-check test) may own. TypeScript is a
 * devDependency: without it (`npm ci --omit=dev` in a checkout) this says so instead of
 * failing with "tsc: not found". Extra arguments go to tsc. Exits with tsc's status (2: type
 * errors, dist/ still written).
 */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
let tsc;
try {
  tsc = join(dirname(createRequire(join(root, 'package.json')).resolve('typescript/package.json')), 'bin', 'tsc');
} catch {
  process.stderr.write(
    'reeve: building dist/ needs TypeScript, a devDependency, and it is not installed.\n' +
      'In a checkout run `npm ci` (with dev dependencies); `npm ci --omit=dev` cannot build. To use Reeve without building, install the published package.\n',
  );
  process.exit(1);
}
const run = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
if (run.error) {
  process.stderr.write(`reeve: could not run tsc: ${run.error.message}\n`);
  process.exit(1);
}
process.exit(run.status ?? 1);
