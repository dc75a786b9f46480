import { dirname, resolve } from 'node:path';
import { missingFileIssues } from './check-files.ts';
import { applyEnvOverrides } from './env-overrides.ts';
import { ConfigError, configIssuesFrom, dotted, type ConfigIssue } from './errors.ts';
import { configErrorMap } from './fields.ts';
import { isPlainObject } from './one-of-by-key.ts';
import { findConfigFile, readConfigFile } from './read-config-file.ts';
import { resolvePaths } from './resolve-paths.ts';
import { configSchema, type Config } from './schema.ts';

export interface LoadConfigOptions {
  /** Working directory: where the config file is looked for, and the base of relative paths without one. */
  cwd: string;
  /** A file named on the command line (`--config`); a missing one is an error. */
  configPath?: string | undefined;
  /** Source of `REEVE_CONFIG` and `REEVE_*` overrides. Default: `process.env`. */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /**
   * Refuse a config whose module files or path programs (`command[0]` written as a path) do
   * not exist, as every CLI command does. Default: false (a publisher that only submits may
   * not have the agents' files).
   */
  checkFiles?: boolean | undefined;
}

export interface LoadedConfig {
  /** Validated, fully defaulted, paths absolute, deep-frozen. */
  config: Config;
  /** The file it came from; absent when none was found and the defaults apply. */
  file?: string;
}

/**
 * Finds, reads, overrides (environment), validates and resolves the configuration. It either
 * returns a complete configuration or throws a ConfigError listing every problem: nothing is
 * applied in part.
 */
export async function loadConfig(options: LoadConfigOptions): Promise<LoadedConfig> {
  const env = options.env ?? process.env;
  const file = await findConfigFile(options.cwd, options.configPath, env);
  const raw = file === undefined ? {} : await readConfigFile(file);
  const baseDir = file === undefined ? resolve(options.cwd) : dirname(file);
  const config = parseConfig(raw, { baseDir, env, file });
  if (options.checkFiles) {
    const missing = await missingFileIssues(config, baseDir);
    if (missing.length) throw new ConfigError(file, missing);
  }
  return file === undefined ? { config } : { config, file };
}

export interface ParseConfigOptions {
  /** Relative paths resolve against this directory. */
  baseDir: string;
  /** `REEVE_*` overrides to apply. Default: none. */
  env?: Readonly<Record<string, string | undefined>> | undefined;
  /** Named in error messages. */
  file?: string | undefined;
}

/** `loadConfig` without the file: for a configuration built in code. `value` is not changed. */
export function parseConfig(value: unknown, options: ParseConfigOptions): Config {
  const { baseDir, env = {}, file } = options;
  if (!isPlainObject(value)) {
    throw new ConfigError(file, [{ path: '', message: 'expected a configuration object such as { "agents": { ... } }' }]);
  }
  const forbidden = protoKeys(value, []);
  if (forbidden.length) throw new ConfigError(file, forbidden);
  const overridden = applyEnvOverrides(configSchema, value, env);
  const parsed = configSchema.safeParse(overridden.value, { error: configErrorMap });
  const issues = [
    ...overridden.issues,
    ...(parsed.success ? [] : configIssuesFrom(parsed.error.issues, configSchema, overridden.value, overridden.origins)),
  ];
  if (issues.length || !parsed.success) throw new ConfigError(file, issues);
  return deepFreeze(resolvePaths(parsed.data, baseDir));
}

/**
 * JSON.parse makes `"__proto__"` an own key; copying it would replace an object's prototype
 * (and zod drops it without a word), so it is refused by name.
 */
function protoKeys(value: unknown, path: PropertyKey[]): ConfigIssue[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => protoKeys(item, [...path, i]));
  if (!isPlainObject(value)) return [];
  return Object.keys(value).flatMap((key) =>
    key === '__proto__'
      ? [{ path: dotted([...path, key]), message: '"__proto__" is not allowed as a key; rename it' }]
      : protoKeys(value[key], [...path, key]),
  );
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
