import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const BUILD = fileURLToPath(new URL('../../scripts/build.mjs', import.meta.url));

/**
 * vitest globalSetup: builds dist/ once per run (`npx vitest run FILE` included). Tests that
 * spawn the CLI run the compiled dist/ (as users do), so without this a run after editing src/
 * would test stale code. Type errors are reported but do not stop the run (`tsc --noEmit` is
 * its own check; tsc still emits then, exit 2). Any other failure stops it: the tests would lie.
 */
export default function buildDist(): void {
  const run = spawnSync(process.execPath, [BUILD], { encoding: 'utf8' });
  const output = `${run.stdout ?? ''}${run.stderr ?? ''}`.trim();
  if (run.status === 0) return;
  if (run.status === 2) {
    process.stderr.write(`build-dist: dist/ was built, with type errors (see \`npm run typecheck\`):\n${output}\n`);
    return;
  }
  throw new Error(`build-dist: building dist/ failed (status ${String(run.status)}${run.error ? `, ${run.error.message}` : ''}); tests that spawn the CLI would run stale code.\n${output}`);
}
