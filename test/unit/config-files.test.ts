import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkKinds } from '../../src/cli/start-check.ts';
import { ConfigError } from '../../src/config/errors.ts';
import { loadConfig } from '../../src/config/load.ts';
import { tempDir } from '../support/temp-dir.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let dir: { path: string; remove(): void };
beforeEach(() => {
  dir = tempDir('reeve-config-files-');
  // Agents in an ES module package, as a user's project would have them.
  writeFileSync(join(dir.path, 'package.json'), '{ "type": "module" }');
});
afterEach(() => dir.remove());

function write(relative: string, text: string, mode?: number): string {
  const file = join(dir.path, relative);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
  if (mode !== undefined) chmodSync(file, mode);
  return file;
}

async function loaded(agents: Record<string, unknown>) {
  write('reeve.config.json', JSON.stringify({ agents }));
  return loadConfig({ cwd: dir.path, env: {}, checkFiles: true });
}

async function issues(promise: Promise<unknown>): Promise<Array<{ path: string; message: string }>> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ConfigError);
  expect((error as ConfigError).code).toBe('CONFIG_INVALID');
  return [...(error as ConfigError).issues];
}

describe('loadConfig({ checkFiles: true }): the files a config names must exist', () => {
  it('names the dotted field, the missing file and the fix for an agent module, each step handler and a preflight', async () => {
    write('agents/ok.ts', 'export default async () => 1;');
    const found = await issues(
      loaded({
        echo: { module: './agents/nope.ts' },
        ship: {
          steps: [
            { name: 'a', run: { module: './agents/ok.ts' }, compensate: { module: './agents/undo.ts' } },
            { name: 'b', run: { module: './agents/run-b.ts' }, gate: { command: ['./bin/gate.sh'] } },
          ],
        },
        checked: { command: ['sh', '-c', 'true'], preflight: { module: './checks/provider.ts' } },
        folder: { module: './agents' },
      }),
    );
    expect(found.map((i) => i.path)).toEqual([
      'agents.echo.module',
      'agents.ship.steps.0.compensate.module',
      'agents.ship.steps.1.run.module',
      'agents.ship.steps.1.gate.command.0',
      'agents.checked.preflight.module',
      'agents.folder.module',
    ]);
    expect(found[0]!.message).toBe(`module file ${join(dir.path, 'agents/nope.ts')} does not exist; create it or fix the path (relative paths resolve against ${dir.path})`);
    expect(found[3]!.message).toContain(`program ${join(dir.path, 'bin/gate.sh')} does not exist`);
    expect(found[5]!.message).toContain(`${join(dir.path, 'agents')} is a directory, not a module file`);
  });

  it('leaves a bare program name to the PATH lookup of reeve start, and placeholders to the run', async () => {
    const { config } = await loaded({ cli: { command: ['no-such-program-anywhere', '-p'] }, chosen: { command: ['{{input.tool}}'] } });
    expect(Object.keys(config.agents)).toEqual(['cli', 'chosen']);
  });

  it('accepts without checkFiles (a publisher may not have the agents), as before', async () => {
    write('reeve.config.json', JSON.stringify({ agents: { echo: { module: './agents/nope.ts' } } }));
    await expect(loadConfig({ cwd: dir.path, env: {} })).resolves.toMatchObject({ config: { agents: { echo: { module: join(dir.path, 'agents/nope.ts') } } } });
  });

  it('passes the example config and the deployment config of this repository', async () => {
    for (const file of ['reeve.config.json', 'deploy/reeve/cluster.config.json']) {
      const { config } = await loadConfig({ cwd: ROOT, configPath: join(ROOT, file), env: {}, checkFiles: true });
      await expect(checkKinds(config, file), file).resolves.toBeUndefined();
    }
  });
});

describe('checkKinds (reeve start): every kind can run before anything is claimed', () => {
  it('refuses a module with no default export function, naming the kind, the file and the fix, without running its agent', async () => {
    const marker = join(dir.path, 'agent-ran');
    write('agents/named.ts', `import { writeFileSync } from 'node:fs';\nexport async function run() { writeFileSync(${JSON.stringify(marker)}, 'x'); }\nsetInterval(() => {}, 1000);\n`);
    write('agents/number.mjs', 'export default 42;');
    write('agents/good.ts', 'export default async function (input: unknown) { return input; }');
    const { config, file } = await loaded({
      named: { module: './agents/named.ts' },
      number: { module: './agents/number.mjs' },
      good: { module: './agents/good.ts' },
      byName: { module: './agents/named.ts', export: 'run' },
      missingName: { module: './agents/good.ts', export: 'handler' },
    });
    const found = await issues(checkKinds(config, file));
    expect(found).toEqual([
      { path: 'agents.named.module', message: `${join(dir.path, 'agents/named.ts')} has no export "default"; export the agent from it: export default async function (input, ctx) { ... } (kind named)` },
      { path: 'agents.number.module', message: expect.stringContaining('exports "default" as a number, not a function') },
      { path: 'agents.missingName.module', message: expect.stringContaining('has no export "handler"; export a function named "handler" from it, or set "export" to the name it has') },
    ]);
    expect(() => readMarker(marker)).toThrow();
  });

  it('refuses a module that does not load, with the loader first error line', async () => {
    write('agents/broken.ts', 'this is not ( typescript');
    const { config, file } = await loaded({ broken: { module: './agents/broken.ts' } });
    const [issue] = await issues(checkKinds(config, file));
    expect(issue).toMatchObject({ path: 'agents.broken.module', message: expect.stringMatching(/broken\.ts cannot be loaded: .*ERROR.*; fix the module \(or start with --no-check\)/) });
  });

  it('accepts a CommonJS-compiled .ts agent outside any package, as the runtime runs it', async () => {
    const plain = tempDir('reeve-config-files-plain-');
    try {
      writeFileSync(join(plain.path, 'agent.ts'), 'export default async function (input: unknown) { return input; }');
      writeFileSync(join(plain.path, 'reeve.config.json'), JSON.stringify({ agents: { plain: { module: './agent.ts' } } }));
      const { config, file } = await loadConfig({ cwd: plain.path, env: {}, checkFiles: true });
      await expect(checkKinds(config, file)).resolves.toBeUndefined();
    } finally {
      plain.remove();
    }
  });

  it('looks commands up on the PATH the child gets, and requires path programs to be executable', async () => {
    write('bin/tool', '#!/bin/sh\necho ok\n', 0o755);
    write('bin/not-exec.sh', 'echo ok\n', 0o644);
    write('work/rel/run', '#!/bin/sh\n', 0o755);
    const { config, file } = await loaded({
      sh: { command: ['sh', '-c', 'true'] },
      missing: { command: ['no-such-program-anywhere'] },
      ownPath: { command: ['tool'], env: { PATH: join(dir.path, 'bin') } },
      hiddenByOwnPath: { command: ['sh'], env: { PATH: join(dir.path, 'bin') } },
      byPath: { command: ['./bin/tool'] },
      notExec: { command: ['./bin/not-exec.sh'] },
      inCwd: { command: ['rel/run'], cwd: './work' },
      notInCwd: { command: ['rel/missing'], cwd: './work' },
      inWorkspace: { command: ['scripts/later.sh'] },
    });
    const found = await issues(checkKinds(config, file));
    expect(found.map((i) => i.path)).toEqual(['agents.missing.command.0', 'agents.hiddenByOwnPath.command.0', 'agents.notExec.command.0', 'agents.notInCwd.command.0']);
    expect(found[0]!.message).toMatch(/^"no-such-program-anywhere" is not found on PATH \(.*\); install it, give its full path, or start with --no-check if it is installed later \(kind missing\)$/);
    expect(found[2]!.message).toContain(`run chmod +x ${join(dir.path, 'bin/not-exec.sh')}`);
  });

  it('checks the PATH only when node.envAllowList passes it to the child', async () => {
    write('bin/tool', '#!/bin/sh\n', 0o755);
    const saved = process.env.PATH;
    process.env.PATH = `${join(dir.path, 'bin')}:${saved}`;
    try {
      write('reeve.config.json', JSON.stringify({ agents: { t: { command: ['tool'] } } }));
      const passed = await loadConfig({ cwd: dir.path, env: {}, checkFiles: true });
      await expect(checkKinds(passed.config, passed.file)).resolves.toBeUndefined();
      write('reeve.config.json', JSON.stringify({ node: { envAllowList: ['HOME'] }, agents: { t: { command: ['tool'] } } }));
      const withheld = await loadConfig({ cwd: dir.path, env: {}, checkFiles: true });
      const found = await issues(checkKinds(withheld.config, withheld.file));
      expect(found[0]!.message).toContain('"tool" is not found on PATH (/usr/bin:/bin)');
    } finally {
      process.env.PATH = saved;
    }
  });
});

function readMarker(file: string): string {
  return readFileSync(file, 'utf8');
}
