import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.ts';
import { loadConfig, parseConfig } from '../../src/config/load.ts';
import { ReeveError } from '../../src/errors.ts';
import { tempDir } from '../support/temp-dir.ts';

let dir: { path: string; remove(): void };
beforeEach(() => {
  dir = tempDir('reeve-config-errors-');
});
afterEach(() => dir.remove());

function configFile(text: string, name = 'reeve.config.json'): string {
  const file = join(dir.path, name);
  writeFileSync(file, text);
  return file;
}

/** Loads `value` as reeve.config.json and returns the ConfigError it must throw. */
async function failure(value: unknown, env: Record<string, string> = {}): Promise<ConfigError> {
  configFile(JSON.stringify(value));
  const error = await loadConfig({ cwd: dir.path, env }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  return error as ConfigError;
}

describe('ConfigError', () => {
  it('is a ReeveError with code CONFIG_INVALID whose message starts with the file and lists each issue on its own line', async () => {
    const file = join(dir.path, 'reeve.config.json');
    const error = await failure({ node: { concurrency: 0, leaseTtlMs: 1.5 } });
    expect(error).toBeInstanceOf(ReeveError);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.message).toBe(
      `${file}: 2 problems to fix:\n` +
        'node.concurrency: expected a positive integer, got 0\n' +
        'node.leaseTtlMs: expected a positive integer number of milliseconds, got 1.5',
    );
    expect(error.data).toMatchObject({ file, issues: error.issues });
  });

  it('starts with "configuration" when there is no file', async () => {
    const error = await loadConfig({ cwd: dir.path, env: { REEVE_NODE__CONCURRENCY: '-1' } }).catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      'configuration: 1 problem to fix:\nnode.concurrency: expected a positive integer, got -1 (from REEVE_NODE__CONCURRENCY)',
    );
  });
});

describe('config errors: files', () => {
  it('names the file, line and column of a JSON syntax error', async () => {
    const file = configFile('{\n  "node": { "concurrency": 4, }\n}\n');
    await expect(loadConfig({ cwd: dir.path, env: {} })).rejects.toThrow(
      `${file}: invalid JSON at line 2, column 31 (position 32): unexpected "}"`,
    );
  });

  it('reports a truncated JSON file at its end', async () => {
    const file = configFile('{ "node": {');
    await expect(loadConfig({ cwd: dir.path, env: {} })).rejects.toThrow(`${file}: invalid JSON at line 1, column 12 (position 11): unexpected end of file`);
  });

  it('refuses a JSON file that holds something other than an object', async () => {
    configFile('[1, 2]');
    await expect(loadConfig({ cwd: dir.path, env: {} })).rejects.toThrow('expected a configuration object, got [1,2]');
  });

  it('says how to export the config when a .mjs file has no default export', async () => {
    const file = configFile('export const other = 1;\n', 'reeve.config.mjs');
    await expect(loadConfig({ cwd: dir.path, env: {} })).rejects.toThrow(
      `${file}: has no default export (nor one named "config"); end it with export default defineConfig({ ... })`,
    );
  });

  it('names the file when a .ts config cannot be compiled or run', async () => {
    const file = configFile('export default {{;\n', 'reeve.config.ts');
    await expect(loadConfig({ cwd: dir.path, env: {} })).rejects.toThrow(`${file}: could not be loaded: `);
  });

  it('refuses a config file type it cannot read', async () => {
    configFile('node: {}', 'reeve.yaml');
    await expect(loadConfig({ cwd: dir.path, configPath: 'reeve.yaml', env: {} })).rejects.toThrow(
      'unsupported config file type ".yaml"; use .json, .mjs or .ts',
    );
  });
});

describe('config errors: fields', () => {
  it('rejects "30s" for timeoutMs with the field path and the expected unit', async () => {
    const error = await failure({ agents: { build: { module: './build.ts', timeoutMs: '30s' } } });
    expect(error.issues).toEqual([{ path: 'agents.build.timeoutMs', message: 'expected a non-negative integer number of milliseconds, got "30s"' }]);
    expect(error.message.split('\n')).toContain('agents.build.timeoutMs: expected a non-negative integer number of milliseconds, got "30s"');
  });

  it('rejects a duration a Node.js timer cannot hold (over 2^31-1 ms), naming the field and the limit', async () => {
    const error = await failure({ node: { leaseTtlMs: 2 ** 31 }, agents: { build: { module: './build.ts', timeoutMs: 30 * 24 * 3600 * 1000 } } });
    expect(error.issues).toEqual([
      { path: 'node.leaseTtlMs', message: 'expected at most 2147483647 ms (about 24.8 days; a longer Node.js timer overflows and fires at once), got 2147483648' },
      { path: 'agents.build.timeoutMs', message: 'expected at most 2147483647 ms (about 24.8 days; a longer Node.js timer overflows and fires at once), got 2592000000' },
    ]);
    expect(parseConfig({ agents: { build: { module: './build.ts', timeoutMs: 2 ** 31 - 1 } } }, { baseDir: dir.path }).agents['build']?.timeoutMs).toBe(2 ** 31 - 1);
  });

  it('reports an unknown key with the known key it probably meant', async () => {
    const error = await failure({ node: { concurency: 4 } });
    expect(error.issues).toEqual([{ path: 'node.concurency', message: 'unknown key "concurency" (did you mean "concurrency"?)' }]);
  });

  it('reports each unknown key of an agent, listing the keys when none is close', async () => {
    const error = await failure({ agents: { echo: { module: './e.ts', timeoutMS: 5, colour: 'red' } } });
    expect(error.issues).toHaveLength(2);
    expect(error.issues[0]).toEqual({ path: 'agents.echo.timeoutMS', message: 'unknown key "timeoutMS" (did you mean "timeoutMs"?)' });
    expect(error.issues[1]!.path).toBe('agents.echo.colour');
    expect(error.issues[1]!.message).toMatch(/^unknown key "colour"; remove it, or use one of: module, export, timeoutMs, /);
  });

  it('refuses an agent with both module and command, saying to keep one', async () => {
    const error = await failure({ agents: { build: { module: './b.ts', command: ['make'] } } });
    expect(error.issues).toEqual([
      {
        path: 'agents.build',
        message: 'an agent needs exactly one of "module", "command" or "steps", found "module" and "command"; keep one of them (to run several handlers in order, use "steps")',
      },
    ]);
  });

  it('refuses an agent with none of module, command or steps, with an example of each', async () => {
    const error = await failure({ agents: { build: { modul: './b.ts' } } });
    expect(error.issues[0]!.path).toBe('agents.build');
    expect(error.issues[0]!.message).toMatch(/^an agent needs exactly one of "module", "command" or "steps", found none \(did you mean "module" instead of "modul"\?\); add one, e\.g\. "module": /);
  });

  it('refuses a step handler with both module and command', async () => {
    const error = await failure({ agents: { ship: { steps: [{ name: 'a', run: { module: './a.ts', command: ['a'] } }] } } });
    expect(error.issues[0]!.path).toBe('agents.ship.steps.0.run');
    expect(error.issues[0]!.message).toMatch(/^a handler needs exactly one of "module" or "command", found "module" and "command"/);
  });

  it('rejects a retryOn pattern that does not compile, naming the entry', async () => {
    const error = await failure({ agents: { build: { command: ['make'], retryOn: ['rate limit', '(unclosed'] } } });
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]!.path).toBe('agents.build.retryOn.1');
    expect(error.issues[0]!.message).toMatch(/^"\(unclosed" is not a valid regular expression \(/);
  });

  it('rejects two steps with one name, because goto routes by name', async () => {
    const run = { module: './s.ts' };
    const error = await failure({ agents: { ship: { steps: [{ name: 'dev', run }, { name: 'dev', run }] } } });
    expect(error.issues).toEqual([
      { path: 'agents.ship.steps.1.name', message: 'duplicate step name "dev" (also step 0); step names must be unique within a kind' },
    ]);
  });

  it('rejects an invalid kind name, a bad enum value and a backoff cap below its base', async () => {
    const error = await failure({
      store: { type: 'postgres' },
      agents: { 'my agent': { module: './a.ts' }, ok: { module: './b.ts', retry: { transient: { baseMs: 5000, maxMs: 100 } } } },
    });
    expect(error.issues).toEqual([
      { path: 'store.type', message: 'expected one of "sqlite", "nats", got "postgres"' },
      { path: 'agents.my agent', message: 'invalid name: expected 1-64 characters of A-Z, a-z, 0-9, "_" or "-", got "my agent"' },
      { path: 'agents.ok.retry.transient.maxMs', message: 'must be >= baseMs (5000), got 100' },
    ]);
  });

  it('refuses a "__proto__" key instead of letting it replace a prototype', async () => {
    configFile('{ "agents": { "__proto__": { "module": "./x.ts" } } }');
    await expect(loadConfig({ cwd: dir.path, env: {} })).rejects.toThrow('agents.__proto__: "__proto__" is not allowed as a key; rename it');
  });
});

describe('config errors: nothing is applied in part', () => {
  it('throws for one bad field and returns no configuration, even though the rest is valid', async () => {
    configFile(JSON.stringify({ node: { concurrency: 2 }, agents: { ok: { module: './ok.ts' }, bad: { module: './b.ts', killGraceMs: -1 } } }));
    let loaded: unknown;
    await expect(
      (async () => {
        loaded = await loadConfig({ cwd: dir.path, env: {} });
      })(),
    ).rejects.toThrow('agents.bad.killGraceMs: expected a non-negative integer number of milliseconds, got -1');
    expect(loaded).toBeUndefined();
  });

  it('reports every problem at once: unknown variables, bad values from the file and from the environment', async () => {
    const error = await failure({ node: { crashLimit: 'three' } }, { REEVE_NOPE: '1', REEVE_NODE__LEASETTLMS: '0' });
    expect(error.issues.map((i) => i.path)).toEqual(['REEVE_NOPE', 'node.leaseTtlMs', 'node.crashLimit']);
  });

  it('never changes the object it was given, whether it succeeds or fails', () => {
    const input = { node: { concurrency: 2 }, agents: { echo: { module: './e.ts' } } };
    const before = structuredClone(input);
    const config = parseConfig(input, { baseDir: dir.path, env: { REEVE_NODE__CONCURRENCY: '3', REEVE_AGENTS__ECHO__TIMEOUTMS: '5' } });
    expect(config.node.concurrency).toBe(3);
    expect(() => parseConfig(input, { baseDir: dir.path, env: { REEVE_NODE__CONCURRENCY: 'x' } })).toThrow(ConfigError);
    expect(input).toEqual(before);
  });
});
