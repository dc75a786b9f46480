import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { tempDir } from '../support/temp-dir.ts';

const fixtures = fileURLToPath(new URL('../fixtures/config/', import.meta.url));
const defineConfigUrl = pathToFileURL(resolve(fixtures, '../../../src/config/define-config.ts')).href;

let dir: { path: string; remove(): void };
beforeEach(() => {
  dir = tempDir('reeve-config-');
});
afterEach(() => dir.remove());

function writeJson(relative: string, value: unknown): string {
  const file = join(dir.path, relative);
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, JSON.stringify(value, null, 2));
  return file;
}

describe('loadConfig: finding the file', () => {
  it('returns the defaults, with no file and no agents, when the directory has no config file', async () => {
    const { config, file } = await loadConfig({ cwd: dir.path, env: {} });
    expect(file).toBeUndefined();
    expect(config.agents).toEqual({});
    expect(config.node).toMatchObject({ concurrency: 8, drainTimeoutMs: 30_000, leaseTtlMs: 15_000, crashLimit: 3, logLevel: 'info' });
    expect(config.node.dataDir).toBe(join(dir.path, '.reeve'));
    expect(config.store).toEqual({ type: 'sqlite', path: join(dir.path, '.reeve', 'reeve.db'), durability: 'normal', bucket: 'reeve-tasks' });
    expect(config.nats.servers).toEqual(['nats://127.0.0.1:4222']);
    expect(config.http).toEqual({ host: '127.0.0.1' });
  });

  it('finds reeve.config.json in the working directory and fills in every default', async () => {
    const file = writeJson('reeve.config.json', { agents: { echo: { module: './echo.ts' } } });
    const loaded = await loadConfig({ cwd: dir.path, env: {} });
    expect(loaded.file).toBe(file);
    expect(loaded.config.agents['echo']).toEqual({
      module: join(dir.path, 'echo.ts'),
      export: 'default',
      timeoutMs: 1_800_000,
      killGraceMs: 10_000,
      timeoutIs: 'permanent',
      retry: { transient: { maxAttempts: 5, baseMs: 1000, maxMs: 300_000 }, permanent: { maxAttempts: 2, baseMs: 1000, maxMs: 60_000 } },
      maxRetryAfterMs: 600_000,
      retryOn: [],
      poison: { repeats: 3 },
      breaker: { threshold: 5, pauseMs: 60_000, maxPauseMs: 600_000 },
      keepWorkspace: false,
    });
  });

  it('prefers reeve.config.json over .mjs and .ts in the same directory', async () => {
    writeFileSync(join(dir.path, 'reeve.config.ts'), 'export default { node: { concurrency: 1 } };');
    writeJson('reeve.config.json', { node: { concurrency: 2 } });
    const { config } = await loadConfig({ cwd: dir.path, env: {} });
    expect(config.node.concurrency).toBe(2);
  });

  it('loads the file given as configPath, relative to the working directory, instead of searching', async () => {
    writeJson('reeve.config.json', { node: { concurrency: 2 } });
    const file = writeJson('elsewhere/custom.json', { node: { concurrency: 3 } });
    const loaded = await loadConfig({ cwd: dir.path, configPath: 'elsewhere/custom.json', env: {} });
    expect(loaded.file).toBe(file);
    expect(loaded.config.node.concurrency).toBe(3);
  });

  it('loads the file named by REEVE_CONFIG when no configPath is given', async () => {
    const file = writeJson('conf/reeve.json', { node: { concurrency: 5 } });
    const loaded = await loadConfig({ cwd: dir.path, env: { REEVE_CONFIG: file } });
    expect(loaded).toMatchObject({ file, config: { node: { concurrency: 5 } } });
  });

  it('refuses a configPath that does not exist, naming it, rather than running on defaults', async () => {
    const missing = join(dir.path, 'nope.json');
    await expect(loadConfig({ cwd: dir.path, configPath: 'nope.json', env: {} })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: `${missing}: not found (given with --config); check the path`,
    });
  });

  it('refuses a REEVE_CONFIG file that does not exist, naming it', async () => {
    await expect(loadConfig({ cwd: dir.path, env: { REEVE_CONFIG: 'gone.json' } })).rejects.toThrow(
      `${join(dir.path, 'gone.json')}: not found (named by REEVE_CONFIG)`,
    );
  });
});

describe('loadConfig: .ts and .mjs files', () => {
  it('loads a typed reeve.config.ts (defineConfig) and resolves its paths against its own directory', async () => {
    const typed = join(fixtures, 'typed');
    const { config, file } = await loadConfig({ cwd: typed, env: {} });
    expect(file).toBe(join(typed, 'reeve.config.ts'));
    expect(config.node).toMatchObject({ concurrency: 2, dataDir: join(typed, 'state') });
    expect(config.store.path).toBe(join(typed, 'state', 'reeve.db'));
    expect(config.agents['echo']).toMatchObject({ module: join(typed, 'agents/echo.ts'), timeoutMs: 60_000 });
    expect(config.agents['ship']).toMatchObject({
      steps: [
        { name: 'develop', run: { module: join(typed, 'agents/dev.ts') }, compensate: { module: join(typed, 'agents/undo.ts') }, maxVisits: 3 },
        { name: 'review', run: { command: ['claude', '-p', 'review'], stdin: 'json' }, maxVisits: 2, onMaxVisits: 'wait' },
      ],
    });
  });

  it('takes the named export "config" of a .mjs file that has no default export', async () => {
    const { config } = await loadConfig({ cwd: dir.path, configPath: join(fixtures, 'esm', 'reeve.config.mjs'), env: {} });
    expect(config.store.durability).toBe('full');
    expect(config.agents['claude']).toMatchObject({ command: ['claude', '-p', '{{input.prompt}}'], breaker: { threshold: 3, pauseMs: 300_000, maxPauseMs: 600_000 } });
  });

  it('loads a .ts config outside any package (compiled as CommonJS) from its default export', async () => {
    writeFileSync(
      join(dir.path, 'reeve.config.ts'),
      `import { defineConfig } from '${defineConfigUrl}';\nconst n: number = 6;\nexport default defineConfig({ node: { concurrency: n } });\n`,
    );
    const { config } = await loadConfig({ cwd: dir.path, env: {} });
    expect(config.node.concurrency).toBe(6);
  });

  it('loads a .mjs config found in the working directory', async () => {
    writeFileSync(join(dir.path, 'reeve.config.mjs'), 'export default { http: { port: 0 } };\n');
    const { config } = await loadConfig({ cwd: dir.path, env: {} });
    expect(config.http).toEqual({ port: 0, host: '127.0.0.1' });
  });
});

describe('loadConfig: paths', () => {
  it('resolves every relative path against the config file directory, not the working directory', async () => {
    const conf = join(dir.path, 'conf');
    writeJson('conf/reeve.config.json', {
      node: { dataDir: 'var' },
      nats: { creds: 'nats.creds', tls: { ca: '../pki/ca.pem', cert: 'c.pem' } },
      agents: {
        mod: { module: './agents/mod.ts', preflight: { module: 'checks/ok.ts' } },
        cmd: { command: ['./bin/run.sh', './not-a-path-argument'], cwd: 'work', preflight: { command: ['../bin/check'] } },
        onPath: { command: ['claude', '-p', 'x'] },
        abs: { command: ['/usr/bin/env', 'true'] },
      },
    });
    const { config } = await loadConfig({ cwd: dir.path, configPath: 'conf/reeve.config.json', env: {} });
    expect(config.node.dataDir).toBe(join(conf, 'var'));
    expect(config.store.path).toBe(join(conf, 'var', 'reeve.db'));
    expect(config.nats.creds).toBe(join(conf, 'nats.creds'));
    expect(config.nats.tls).toEqual({ ca: join(dir.path, 'pki/ca.pem'), cert: join(conf, 'c.pem') });
    expect(config.agents['mod']).toMatchObject({ module: join(conf, 'agents/mod.ts'), preflight: { module: join(conf, 'checks/ok.ts') } });
    expect(config.agents['cmd']).toMatchObject({
      command: [join(conf, 'bin/run.sh'), './not-a-path-argument'],
      cwd: join(conf, 'work'),
      preflight: { command: [join(dir.path, 'bin/check')] },
    });
    expect(config.agents['onPath']).toMatchObject({ command: ['claude', '-p', 'x'] });
    expect(config.agents['abs']).toMatchObject({ command: ['/usr/bin/env', 'true'] });
  });

  it('keeps an explicit store.path rather than deriving it from dataDir', async () => {
    writeJson('reeve.config.json', { node: { dataDir: '/var/lib/reeve' }, store: { path: 'db/tasks.db' } });
    const { config } = await loadConfig({ cwd: dir.path, env: {} });
    expect(config.node.dataDir).toBe('/var/lib/reeve');
    expect(config.store.path).toBe(join(dir.path, 'db/tasks.db'));
  });

  it('returns a deep-frozen configuration', async () => {
    writeJson('reeve.config.json', { agents: { echo: { module: './echo.ts', retryOn: ['429'] } } });
    const { config } = await loadConfig({ cwd: dir.path, env: {} });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.node.envAllowList)).toBe(true);
    expect(Object.isFrozen(config.agents['echo']!.retry.transient)).toBe(true);
    expect(Object.isFrozen(config.agents['echo']!.retryOn)).toBe(true);
  });
});

describe('loadConfig: environment overrides', () => {
  it('sets a number from REEVE_NODE__CONCURRENCY and matches camelCase keys case-insensitively', async () => {
    const { config } = await loadConfig({ cwd: dir.path, env: { REEVE_NODE__CONCURRENCY: '4', REEVE_NODE__DRAINTIMEOUTMS: '5' } });
    expect(config.node.concurrency).toBe(4);
    expect(config.node.drainTimeoutMs).toBe(5);
  });

  it('turns a comma-separated list into an array where the schema expects one', async () => {
    const { config } = await loadConfig({
      cwd: dir.path,
      env: { REEVE_NATS__SERVERS: 'nats://a:4222,nats://b:4222', REEVE_NODE__PROTECTEDPIDS: '1, 2', REEVE_SECRETS: '["s1","s2"]' },
    });
    expect(config.nats.servers).toEqual(['nats://a:4222', 'nats://b:4222']);
    expect(config.node.protectedPids).toEqual([1, 2]);
    expect(config.secrets).toEqual(['s1', 's2']);
  });

  it('takes a JSON array, or a single value, for an array field', async () => {
    const { config } = await loadConfig({ cwd: dir.path, env: { REEVE_NATS__SERVERS: '["nats://x:4222"]', REEVE_NODE__PROTECTEDPIDS: '7' } });
    expect(config.nats.servers).toEqual(['nats://x:4222']);
    expect(config.node.protectedPids).toEqual([7]);
  });

  it('overrides a key of an agent the file defines, and a value the file already set', async () => {
    writeJson('reeve.config.json', { agents: { echo: { module: './echo.ts', timeoutMs: 60_000 } } });
    const { config } = await loadConfig({ cwd: dir.path, env: { REEVE_AGENTS__ECHO__TIMEOUTMS: '100', REEVE_AGENTS__ECHO__RETRY__TRANSIENT__MAXATTEMPTS: '9' } });
    expect(config.agents['echo']).toMatchObject({ timeoutMs: 100, retry: { transient: { maxAttempts: 9, baseMs: 1000 } } });
  });

  it('reaches into an existing array entry by index', async () => {
    writeJson('reeve.config.json', { agents: { ship: { steps: [{ name: 'dev', run: { module: './dev.ts' } }] } } });
    const { config } = await loadConfig({ cwd: dir.path, env: { REEVE_AGENTS__SHIP__STEPS__0__MAXVISITS: '5' } });
    expect(config.agents['ship']).toMatchObject({ steps: [{ name: 'dev', maxVisits: 5 }] });
  });

  it('keeps a value as a string when the field takes a string, even if it looks like JSON', async () => {
    const { config } = await loadConfig({ cwd: dir.path, env: { REEVE_HTTP__TOKEN: '12345', REEVE_NODE__LOGLEVEL: 'debug' } });
    expect(config.http.token).toBe('12345');
    expect(config.node.logLevel).toBe('debug');
  });

  it('ignores REEVE_CONFIG and variables without the REEVE_ prefix', async () => {
    const file = writeJson('reeve.config.json', {});
    const { config } = await loadConfig({ cwd: dir.path, env: { REEVE_CONFIG: file, HOME: '/root', NODE__CONCURRENCY: '1' } });
    expect(config.node.concurrency).toBe(8);
  });

  it('refuses a variable that names no key, naming the variable and the key it probably meant', async () => {
    const error = await loadConfig({ cwd: dir.path, env: { REEVE_NODE__CONCURENCY: '4' } }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'CONFIG_INVALID',
      issues: [{ path: 'REEVE_NODE__CONCURENCY', message: 'names no configuration key: "CONCURENCY" is not a key of node (did you mean "concurrency"?)' }],
    });
  });

  it('refuses a variable for an agent the file does not define', async () => {
    writeJson('reeve.config.json', { agents: { echo: { module: './echo.ts' } } });
    await expect(loadConfig({ cwd: dir.path, env: { REEVE_AGENTS__ECHOO__TIMEOUTMS: '1' } })).rejects.toThrow(
      'REEVE_AGENTS__ECHOO__TIMEOUTMS: names no configuration key: agents has no entry "ECHOO" (it has echo)',
    );
  });

  it('says which variable set a value that fails validation', async () => {
    await expect(loadConfig({ cwd: dir.path, env: { REEVE_NODE__CONCURRENCY: 'lots' } })).rejects.toThrow(
      'node.concurrency: expected a positive integer, got "lots" (from REEVE_NODE__CONCURRENCY)',
    );
  });
});

describe('loadConfig: inspect', () => {
  it('is off by default, and `true` turns the relay on with its defaults', async () => {
    expect((await loadConfig({ cwd: dir.path, env: {} })).config.inspect).toEqual({ enabled: false, maxContextBytes: 4096, bufferMessages: 1000 });
    writeJson('reeve.config.json', { inspect: true });
    expect((await loadConfig({ cwd: dir.path, env: {} })).config.inspect).toEqual({ enabled: true, maxContextBytes: 4096, bufferMessages: 1000 });
  });

  it('takes an object with an outside relay URL and a size cap, from the file or the environment', async () => {
    writeJson('reeve.config.json', { inspect: { url: 'wss://relay.example:8443/x', maxContextBytes: 1024 } });
    expect((await loadConfig({ cwd: dir.path, env: {} })).config.inspect).toMatchObject({ enabled: false, url: 'wss://relay.example:8443/x', maxContextBytes: 1024 });
    const { config } = await loadConfig({ cwd: dir.path, env: { REEVE_INSPECT__ENABLED: 'true', REEVE_INSPECT__URL: 'ws://127.0.0.1:8080' } });
    expect(config.inspect).toMatchObject({ enabled: true, url: 'ws://127.0.0.1:8080' });
  });

  it('refuses what is neither a boolean nor its object, a URL that is not ws:// and a tiny cap, saying what it expected', async () => {
    writeJson('reeve.config.json', { inspect: 'yes' });
    await expect(loadConfig({ cwd: dir.path, env: {} })).rejects.toThrow('inspect: expected true, false or { enabled, url, maxContextBytes, bufferMessages }, got "yes"');
    writeJson('reeve.config.json', { inspect: { url: 'http://relay:8080' } });
    await expect(loadConfig({ cwd: dir.path, env: {} })).rejects.toThrow('inspect.url: expected a WebSocket URL such as "ws://127.0.0.1:8080", got "http://relay:8080"');
    writeJson('reeve.config.json', { inspect: { maxContextBytes: 10 } });
    await expect(loadConfig({ cwd: dir.path, env: {} })).rejects.toThrow('inspect.maxContextBytes: expected at least 256 bytes, got 10');
  });
});
