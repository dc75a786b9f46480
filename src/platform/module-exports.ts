/**
 * A loaded module's own exports. tsx compiles a .ts file outside a `"type": "module"` package
 * (a default `npm init -y` project) as CommonJS: importing it yields `{ default: module.exports }`,
 * and the file's own exports sit one level down, marked `__esModule`. Shared by the config
 * reader and the module-agent worker (a neutral module: the pool must not import config).
 */
export function moduleExports(loaded: unknown): Record<string, unknown> {
  const inner = (loaded as Record<string, unknown>)['default'];
  const wrapped = typeof inner === 'object' && inner !== null && (inner as { __esModule?: unknown }).__esModule === true;
  return (wrapped ? inner : loaded) as Record<string, unknown>;
}
