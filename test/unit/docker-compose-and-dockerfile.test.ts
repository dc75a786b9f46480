import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.ts';
import { BUCKET, PASSWORDS, read, ROOT, STREAM } from './deployment-fixtures.ts';

/**
 * The Docker deployment files: docker-compose.yml (three NATS servers, two Reeve nodes),
 * Dockerfile and .dockerignore. There is no Docker engine here, so they are checked as text:
 * against the repository, against deploy/nats and against Reeve's config loader. The NATS
 * configs the compose file mounts are checked in deploy-nats-configs.test.ts and
 * deployment-files.test.ts.
 */

type Yaml = string | number | boolean | null | Yaml[] | { [key: string]: Yaml };
type YamlMap = { [key: string]: Yaml };

const compose = parseYaml(read('docker-compose.yml')) as YamlMap;
const services = compose.services as Record<string, YamlMap>;
const natsServices = Object.keys(services).filter((name) => String(services[name]!.image ?? '').startsWith('nats:'));
const reeveServices = Object.keys(services).filter((name) => services[name]!.build !== undefined);
const env = (service: string) => (services[service]!.environment ?? {}) as Record<string, string>;

describe('docker-compose.yml', () => {
  it.skipIf(!hasPyYaml())('parses the same with PyYAML as with the reader these tests use', () => {
    const r = spawnSync('python3', ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', join(ROOT, 'docker-compose.yml')], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(compose);
  });

  it('runs three NATS servers, each with its own config from deploy/nats and a JetStream volume', () => {
    expect(natsServices.sort()).toEqual(['nats-1', 'nats-2', 'nats-3']);
    // The JetStream volume is mounted where the configs keep their store.
    expect(read('deploy/nats/server.conf')).toMatch(/^\s*store_dir: "\/var\/lib\/nats"$/m);
    const namedVolumes = Object.keys(compose.volumes as YamlMap);
    for (const name of natsServices) {
      const s = services[name]!;
      const mount = bindMounts(s).find((m) => m.target === '/etc/nats/reeve');
      expect(mount?.source).toBe('./deploy/nats');
      expect(s.command).toEqual(['--config', `/etc/nats/reeve/${name}.conf`]);
      expect(existsSync(join(ROOT, 'deploy/nats', `${name}.conf`))).toBe(true);
      const data = (s.volumes as string[]).find((v) => v.endsWith(':/var/lib/nats'));
      expect(namedVolumes).toContain(data?.split(':')[0]);
      // Every password auth.conf reads, required: compose stops when one is unset or empty.
      for (const variable of Object.keys(PASSWORDS)) expect(env(name)[variable]).toMatch(new RegExp(`^\\$\\{${variable}:\\?`));
      expect((s.healthcheck as YamlMap).test).toEqual(['CMD', 'wget', '-q', '-O', '/dev/null', 'http://127.0.0.1:8222/healthz']);
    }
  });

  it('refers only to files that exist', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const m of bindMounts(s)) expect(existsSync(join(ROOT, m.source)), `${name}: ${m.source}`).toBe(true);
      if (s.build !== undefined) expect(existsSync(join(ROOT, String(s.build), 'Dockerfile')), `${name}: build context`).toBe(true);
      for (const dep of Object.keys((s.depends_on ?? {}) as YamlMap)) expect(services, `${name} depends on ${dep}`).toHaveProperty([dep]);
    }
    expect(existsSync(join(ROOT, 'deploy/cluster.env.example'))).toBe(true);
  });

  it('runs two Reeve nodes on the NATS store, all three servers, replicas 3', () => {
    expect(reeveServices.sort()).toEqual(['node-a', 'node-b']);
    const ids = reeveServices.map((name) => env(name).REEVE_NODE__ID);
    expect(new Set(ids).size).toBe(ids.length);
    for (const name of reeveServices) {
      const e = env(name);
      expect(e.REEVE_STORE__TYPE).toBe('nats');
      expect(e.REEVE_NATS__SERVERS!.split(',').sort()).toEqual(natsServices.map((n) => `nats://${n}:4222`).sort());
      expect(e.REEVE_NATS__REPLICAS).toBe('3');
      expect(e.REEVE_NATS__USER).toBe('node');
      expect(e.REEVE_NATS__PASS).toMatch(/^\$\{NATS_NODE_PASS:\?/);
      const depends = services[name]!.depends_on as Record<string, YamlMap>;
      expect(Object.keys(depends).sort()).toEqual(natsServices.sort());
      for (const dep of Object.values(depends)) expect(dep.condition).toBe('service_healthy');
      expect(services[name]!.restart).toBe('on-failure');
    }
  });

  it('checks each node on /readyz of its HTTP API, with a tool the image has (node, not wget)', () => {
    for (const name of reeveServices) {
      expect(env(name).REEVE_HTTP__PORT).toBe('7373');
      const test = (services[name]!.healthcheck as YamlMap).test as string[];
      expect(test.slice(0, 3)).toEqual(['CMD', 'node', '-e']);
      expect(test[3]).toContain('http://127.0.0.1:7373/readyz');
    }
  });

  it("gives the nodes a config that loads with the compose environment, with agents from examples/", async () => {
    for (const name of reeveServices) {
      const e = env(name);
      const hostConfig = containerToHost(services[name]!, e.REEVE_CONFIG!);
      const { config } = await loadConfig({ cwd: ROOT, configPath: hostConfig, env: { ...e, REEVE_NODE__DATADIR: '/var/lib/reeve' } });
      expect(config.store.type).toBe('nats');
      expect(config.nats).toMatchObject({ replicas: 3, user: 'node', prefix: 'reeve', stream: STREAM });
      expect(config.store.bucket).toBe(BUCKET);
      expect(config.node.id).toBe(e.REEVE_NODE__ID);
      const modules = Object.values(config.agents).flatMap((a) =>
        'module' in a ? [a.module] : 'steps' in a ? a.steps.flatMap((s) => [s.run, s.compensate].flatMap((h) => (h && 'module' in h ? [h.module] : []))) : [],
      );
      expect(modules.length).toBeGreaterThan(0);
      for (const m of modules) {
        expect(existsSync(m), m).toBe(true);
        expect(m.startsWith(join(ROOT, 'examples/'))).toBe(true);
      }
      // Node state (node id, process registry, logs) on a named volume at the image's dataDir.
      const data = (services[name]!.volumes as string[]).find((v) => v.endsWith(':/var/lib/reeve'));
      expect(Object.keys(compose.volumes as YamlMap)).toContain(data?.split(':')[0]);
      expect(read('Dockerfile')).toContain('ENV REEVE_NODE__DATADIR=/var/lib/reeve');
    }
  });

  it('lets a node drain before docker stop kills it', async () => {
    for (const name of reeveServices) {
      const e = env(name);
      const { config } = await loadConfig({ cwd: ROOT, configPath: containerToHost(services[name]!, e.REEVE_CONFIG!), env: e });
      const grace = seconds(String(services[name]!.stop_grace_period));
      expect(grace * 1000).toBeGreaterThanOrEqual(config.node.drainTimeoutMs + 10_000);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = read('Dockerfile');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'));

  it('builds on node:20-bookworm-slim with the tools better-sqlite3 needs to compile', () => {
    const froms = instructions.filter((l) => l.startsWith('FROM '));
    expect(froms.length).toBeGreaterThan(0);
    for (const f of froms) expect(f).toMatch(/^FROM node:20-bookworm-slim\b/);
    const install = instructions.find((l) => l.includes('apt-get install') && l.includes('g++'));
    for (const tool of ['python3', 'make', 'g++']) expect(install).toContain(` ${tool}`);
  });

  it('builds the compiled JavaScript, then keeps the runtime dependencies only', () => {
    expect(instructions.some((l) => /^RUN npm ci\b.*&& npm prune --omit=dev\b/.test(l))).toBe(true);
    expect(instructions).toContain('COPY --from=deps /app/dist ./dist');
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string>; devDependencies: Record<string, string>; bin: Record<string, string>; scripts: Record<string, string> };
    expect(pkg.scripts['prepare']).toContain('build');
    expect(pkg.devDependencies).toHaveProperty('typescript');
    expect(pkg.dependencies).toHaveProperty('better-sqlite3');
    expect(read(pkg.bin.reeve!)).toContain("'../dist/cli/main.js'");
    expect(instructions).toContain('ENTRYPOINT ["/usr/bin/tini", "--", "node", "bin/reeve.js"]');
    expect(instructions).toContain('CMD ["start"]');
  });

  it('copies only paths that exist and that .dockerignore lets into the build context', () => {
    const ignore = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignore[0]).toBe('*');
    const letIn = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1).replace(/\/$/, ''));
    const copies = instructions.filter((l) => l.startsWith('COPY ') && !l.includes('--from='));
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) {
      const sources = c.split(/\s+/).slice(1, -1);
      for (const source of sources) {
        expect(existsSync(join(ROOT, source)), source).toBe(true);
        expect(letIn, `.dockerignore must let ${source} in`).toContain(source.replace(/\/$/, ''));
      }
    }
    // What the nodes' config needs inside the image.
    expect(letIn).toEqual(expect.arrayContaining(['bin', 'src', 'examples', 'deploy/reeve', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json']));
    expect(statSync(join(ROOT, 'bin/reeve.js')).isFile()).toBe(true);
  });
});

function hasPyYaml(): boolean {
  return spawnSync('python3', ['-c', 'import yaml'], { stdio: 'ignore' }).status === 0;
}

/** `./host:/container[:ro]` entries of a service's volumes. */
function bindMounts(service: YamlMap): Array<{ source: string; target: string }> {
  return ((service.volumes ?? []) as string[])
    .filter((v) => v.startsWith('./') || v.startsWith('/'))
    .map((v) => {
      const [source, target] = v.split(':');
      return { source: source!, target: target! };
    });
}

/** The host file behind a path inside a service's container, through its bind mounts. */
function containerToHost(service: YamlMap, path: string): string {
  const mount = bindMounts(service).find((m) => path === m.target || path.startsWith(`${m.target}/`));
  if (!mount) throw new Error(`${path} is not inside a bind mount`);
  return resolve(ROOT, mount.source, path.slice(mount.target.length + 1));
}

function seconds(duration: string): number {
  const m = /^(\d+)(s|m)$/.exec(duration);
  if (!m) throw new Error(`expected a duration such as 45s, got ${duration}`);
  return Number(m[1]) * (m[2] === 'm' ? 60 : 1);
}

/**
 * The YAML docker-compose.yml uses, no more: block mappings and block lists, plain, single- or
 * double-quoted scalars, flow lists written as JSON, comments. (No YAML library is installed;
 * where PyYAML exists, a test checks this reader agrees with it on the file.)
 */
function parseYaml(text: string): Yaml {
  const lines = text
    .split('\n')
    .map((raw) => stripComment(raw))
    .filter((l) => l.trim() !== '')
    .map((l) => ({ indent: l.length - l.trimStart().length, text: l.trim() }));
  let i = 0;
  const block = (): Yaml => {
    const first = lines[i]!;
    if (first.text === '-' || first.text.startsWith('- ')) {
      const list: Yaml[] = [];
      while (i < lines.length && lines[i]!.indent === first.indent && lines[i]!.text.startsWith('- ')) list.push(scalar(lines[i++]!.text.slice(2).trim()));
      return list;
    }
    const map: YamlMap = {};
    while (i < lines.length && lines[i]!.indent === first.indent) {
      const line = lines[i++]!;
      const m = /^([^\s:"'][^:]*?):(?:\s+(.*))?$/.exec(line.text);
      if (!m) throw new Error(`unsupported YAML line: ${line.text}`);
      const nested = i < lines.length && lines[i]!.indent > line.indent;
      map[m[1]!] = m[2] !== undefined ? scalar(m[2]) : nested ? block() : null;
    }
    if (i < lines.length && lines[i]!.indent > first.indent) throw new Error(`unexpected indentation: ${lines[i]!.text}`);
    return map;
  };
  return block();
}

function scalar(text: string): Yaml {
  if (text.startsWith('"') || text.startsWith('[')) return JSON.parse(text) as Yaml;
  if (text.startsWith("'")) return text.slice(1, -1).replace(/''/g, "'");
  if (text === 'true' || text === 'false') return text === 'true';
  if (text === 'null' || text === '~') return null;
  if (/^-?\d+$/.test(text)) return Number(text);
  if (/^[{&*!|>]/.test(text)) throw new Error(`unsupported YAML value: ${text}`);
  return text;
}

/** The line without a trailing `# comment` (a # inside quotes stays). */
function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}
