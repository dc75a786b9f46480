import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
/** tsx's loader as a file URL, so child processes load TS from any working directory. */
export const tsxLoader = import.meta.resolve('tsx');

/** Runs a TypeScript fixture in a separate Node process and returns its stdout. */
export async function runTsFixture(relative: string, args: string[]): Promise<string> {
  const file = fileURLToPath(new URL(`../fixtures/${relative}`, import.meta.url));
  const { stdout } = await run(process.execPath, ['--import', tsxLoader, file, ...args], { timeout: 60_000 });
  return stdout;
}
