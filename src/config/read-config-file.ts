import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { toError } from '../errors.ts';
import { ConfigError } from './errors.ts';
import { show } from './fields.ts';
import { jsonErrorIndex, lineColumn } from './json-position.ts';
import { isPlainObject } from './one-of-by-key.ts';
import { moduleExports } from '../platform/module-exports.ts';

/** Looked for in the working directory, in this order, when no file is named. */
export const CONFIG_FILE_NAMES = ['reeve.config.json', 'reeve.config.mjs', 'reeve.config.ts'] as const;

const EXAMPLE_EXPORT = 'export default defineConfig({ ... })';

/**
 * The config file to load: `configPath` (`--config`), else `REEVE_CONFIG`, else the first of
 * CONFIG_FILE_NAMES in `cwd`; undefined when there is none (the defaults apply). A file that
 * was named but does not exist is an error: silently running on defaults would hide a typo.
 */
export async function findConfigFile(
  cwd: string,
  configPath: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
): Promise<string | undefined> {
  const named =
    configPath !== undefined
      ? { path: configPath, how: 'given with --config' }
      : env['REEVE_CONFIG']
        ? { path: env['REEVE_CONFIG'], how: 'named by REEVE_CONFIG' }
        : undefined;
  if (named) {
    const file = resolve(cwd, named.path);
    const kind = await fileKind(file);
    if (kind === 'file') return file;
    const problem = kind === 'missing' ? 'not found' : 'is a directory, not a file';
    throw new ConfigError(file, [{ path: '', message: `${problem} (${named.how}); check the path` }]);
  }
  for (const name of CONFIG_FILE_NAMES) {
    const file = join(resolve(cwd), name);
    if ((await fileKind(file)) === 'file') return file;
  }
  return undefined;
}

async function fileKind(path: string): Promise<'file' | 'directory' | 'missing'> {
  try {
    return (await stat(path)).isDirectory() ? 'directory' : 'file';
  } catch {
    return 'missing';
  }
}

/** The file's configuration object, before validation. */
export async function readConfigFile(file: string): Promise<Record<string, unknown>> {
  const ext = extname(file).toLowerCase();
  let value: unknown;
  if (ext === '.json') value = await readJson(file);
  else if (['.mjs', '.js', '.ts', '.mts'].includes(ext)) value = await importConfig(file);
  else throw new ConfigError(file, [{ path: '', message: `unsupported config file type "${ext}"; use .json, .mjs or .ts` }]);
  if (!isPlainObject(value)) {
    const fix = ext === '.json' ? 'write a JSON object: { "agents": { ... } }' : EXAMPLE_EXPORT;
    throw new ConfigError(file, [{ path: '', message: `expected a configuration object, got ${show(value)}; ${fix}` }]);
  }
  return value;
}

async function readJson(file: string): Promise<unknown> {
  const text = (await readFile(file, 'utf8')).replace(/^\uFEFF/, '');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    const index = jsonErrorIndex(text) ?? 0;
    const { line, column } = lineColumn(text, index);
    const found = index < text.length ? `unexpected ${JSON.stringify(text[index])}` : 'unexpected end of file';
    throw new ConfigError(file, [{ path: '', message: `invalid JSON at line ${line}, column ${column} (position ${index}): ${found}` }], {
      cause: toError(err),
    });
  }
}

async function importConfig(file: string): Promise<unknown> {
  let loaded: unknown;
  try {
    loaded = await importModule(file);
  } catch (err) {
    const error = toError(err);
    throw new ConfigError(file, [{ path: '', message: `could not be loaded: ${error.message}` }], { cause: error });
  }
  const exports = moduleExports(loaded);
  const exported = exports['default'] ?? exports['config'];
  if (exported === undefined) {
    throw new ConfigError(file, [{ path: '', message: `has no default export (nor one named "config"); end it with ${EXAMPLE_EXPORT}` }]);
  }
  return exported;
}

/**
 * .mjs and .js load natively (no tsx: it costs ~100 ms and is loaded only when needed). tsx
 * compiles .ts/.mts in-process, so a TypeScript config needs no build step; it is also the
 * fallback for a .js file node cannot parse (a SyntaxError: ESM syntax in a CommonJS package),
 * which tsx loads. Any other failure of a .js file is reported as it is.
 */
async function importModule(file: string): Promise<unknown> {
  const url = pathToFileURL(file).href;
  const ext = extname(file).toLowerCase();
  const viaTsx = async () => (await import('tsx/esm/api')).tsImport(url, import.meta.url);
  if (ext === '.ts' || ext === '.mts') return viaTsx();
  try {
    return await import(url);
  } catch (err) {
    if (ext === '.js' && err instanceof SyntaxError) return viaTsx();
    throw err;
  }
}
