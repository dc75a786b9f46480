import type { ConfigInput } from './schema.ts';

/**
 * Types a `reeve.config.ts` or `.mjs` file: `export default defineConfig({ agents: { ... } })`.
 * It returns its argument; validation happens when the file is loaded.
 */
export function defineConfig(config: ConfigInput): ConfigInput {
  return config;
}

export type { ConfigInput } from './schema.ts';
