import { builtinModules } from 'node:module';
import { describe, expect, it } from 'vitest';
import { importsOf, sourceFiles, type SourceImport as Import } from '../support/source-imports.ts';

/**
 * typescript-eslint does not run on TypeScript 7, so this test guards the layering that
 * docs/ARCHITECTURE.md ("Layers and folders") describes: machines are pure, ports are types,
 * actors never reach an adapter, only src/node/ wires actors and adapters together, cluster/
 * is only what needs NATS, config/ stands on its own. Each rule is also run on an import that
 * breaks it, so a rule that can no longer fail fails here.
 */
const all = sourceFiles().flatMap((file) => importsOf(file));
/** The folder of a path relative to src/ (`store/kv` for the two stores), or the loose file's name. */
const layer = (path: string) => path.split('/')[0]!;
const place = (path: string) => (layer(path) === 'store' && ['kv', 'sqlite'].includes(path.split('/')[1]!) ? path.split('/').slice(0, 2).join('/') : layer(path));
const isBuiltin = (specifier: string) => specifier.startsWith('node:') || builtinModules.includes(specifier);
/** notify/ holds the notification sinks (webhook, command): an adapter like the others. */
const ADAPTERS = ['store', 'transport', 'pool', 'notify'];

type Rule = (imports: Import[]) => string[];

/** One message per import that `pred` refuses. */
const perImport =
  (pred: (i: Import) => string | undefined): Rule =>
  (imports) =>
    imports.flatMap((i) => {
      const why = pred(i);
      return why ? [`${i.file} imports ${i.specifier}: ${why}`] : [];
    });

/** Each rule, with imports that break it: every case (one or more imports together) must be caught. */
const rules: Record<string, { rule: Rule; breaking: Import[][] }> = {
  'keeps machines pure: only xstate, other machines, protocol types and errors': {
    rule: perImport((i) => {
      if (layer(i.file) !== 'machines') return undefined;
      if (i.specifier === 'xstate') return undefined;
      if (i.target && ['machines', 'errors.ts'].includes(layer(i.target))) return undefined;
      if (i.target && layer(i.target) === 'protocol' && (i.typeOnly || !i.target.includes('validate'))) return undefined;
      return 'machines may import only xstate, machines, protocol and errors (no I/O, no clock, no adapters)';
    }),
    breaking: [[edge('machines/task-saga.ts', 'ports/clock.ts')], [edge('machines/task-saga.ts', 'protocol/validate.ts')]],
  },

  'keeps ports to type-only imports': {
    rule: perImport((i) => (layer(i.file) === 'ports' && !i.typeOnly ? 'ports are interfaces: use `import type`' : undefined)),
    breaking: [[edge('ports/runner.ts', 'protocol/task.ts')]],
  },

  'lets actors use ports, machines, protocol and platform but never an adapter, NATS or the wiring': {
    rule: perImport((i) => {
      if (layer(i.file) !== 'actors') return undefined;
      if (i.target && [...ADAPTERS, 'cluster', 'cli', 'http', 'node', 'config'].includes(layer(i.target))) return 'actors depend on ports, not adapters (wire them in src/node/)';
      if (!i.target && /^(better-sqlite3|@nats-io\/|piscina|execa)/.test(i.specifier)) return 'actors must not use a driver directly';
      return undefined;
    }),
    breaking: [[edge('actors/dispatcher.ts', 'store/sqlite/claim.ts', { typeOnly: true })], [edge('actors/outage.ts', 'node/backend.ts', { typeOnly: true })], [pkg('actors/outage.ts', '@nats-io/jetstream')], [edge('actors/notifier.ts', 'notify/sinks.ts')]],
  },

  'keeps adapters apart: store, transport, pool and notify do not import each other, actors, cluster or the wiring': {
    rule: perImport((i) => {
      const from = layer(i.file);
      if (!ADAPTERS.includes(from) || !i.target) return undefined;
      const to = layer(i.target);
      if (to !== from && [...ADAPTERS, 'actors', 'cluster', 'cli', 'http', 'node', 'client', 'views'].includes(to)) return `${from} must not depend on ${to}`;
      return undefined;
    }),
    breaking: [[edge('pool/command-runner.ts', 'store/sqlite/process-registry.ts')], [edge('store/kv/claim.ts', 'actors/outage.ts')]],
  },

  'lets only src/node/ import actors and adapters (store, transport, pool) together': {
    rule: (imports) => {
      const reaches = new Map<string, Set<string>>();
      for (const i of imports) if (i.target) reaches.set(i.file, (reaches.get(i.file) ?? new Set()).add(layer(i.target)));
      return [...reaches]
        .filter(([file, to]) => layer(file) !== 'node' && to.has('actors') && ADAPTERS.some((a) => to.has(a)))
        .map(([file, to]) => `${file} imports actors and ${ADAPTERS.filter((a) => to.has(a)).join(', ')}: wiring them together is src/node/'s job`);
    },
    breaking: [[edge('cli/reap.ts', 'actors/reaper.ts'), edge('cli/reap.ts', 'pool/os-process-control.ts')], [edge('http/x.ts', 'actors/operator.ts'), edge('http/x.ts', 'store/sqlite/sqlite-task-store.ts')]],
  },

  'keeps cluster/ to what needs NATS: every file uses a NATS client, none imports actors, the wiring or the SQLite store': {
    rule: (imports) => {
      const files = new Set(imports.filter((i) => layer(i.file) === 'cluster').map((i) => i.file));
      const withoutNats = [...files].filter((file) => !imports.some((i) => i.file === file && i.specifier.startsWith('@nats-io/')));
      const allowed = ['errors.ts', 'protocol', 'ports', 'machines', 'platform', 'transport', 'store/kv', 'store', 'cluster'];
      const reachingOut = perImport((i) => {
        if (layer(i.file) !== 'cluster') return undefined;
        if (i.target) return allowed.includes(place(i.target)) ? undefined : 'cluster/ may import errors, protocol, ports, machines, platform, transport and the KV store (store/kv, store/*.ts) only';
        return /^@nats-io\//.test(i.specifier) || i.specifier === 'zod' || isBuiltin(i.specifier) ? undefined : 'cluster/ uses the NATS client, zod and node built-ins only';
      })(imports);
      return [...withoutNats.map((file) => `${file} uses no NATS client: code every mode runs belongs in actors/ (ports only) or node/ (wiring)`), ...reachingOut];
    },
    breaking: [[edge('cluster/outage.ts', 'ports/bus.ts')], [edge('cluster/submit-stream.ts', 'actors/outage.ts')], [edge('cluster/submit-stream.ts', 'store/sqlite/rows.ts')], [pkg('cluster/submit-stream.ts', 'better-sqlite3')]],
  },

  'keeps config/ on its own: protocol, machine types, errors and platform, zod, tsx and node built-ins': {
    rule: perImport((i) => {
      if (layer(i.file) !== 'config') return undefined;
      if (!i.target) return ['zod', 'tsx/esm/api'].includes(i.specifier) || isBuiltin(i.specifier) ? undefined : 'config/ uses zod, tsx (lazily, for a .ts config) and node built-ins only';
      const to = layer(i.target);
      if (['config', 'protocol', 'errors.ts', 'platform'].includes(to)) return undefined;
      if (to === 'machines' && i.typeOnly) return undefined;
      return 'config/ may import protocol, errors, platform and machine types only (the runtime reads config, not the other way round)';
    }),
    breaking: [[edge('config/load.ts', 'store/sqlite/sqlite-task-store.ts')], [edge('config/saga-policy.ts', 'machines/task-saga.ts')], [pkg('config/load.ts', 'pino')]],
  },

  'keeps protocol and errors free of runtime layers': {
    rule: perImport((i) => {
      const from = layer(i.file);
      if (!['protocol', 'errors.ts'].includes(from)) return undefined;
      if (!i.target) return i.specifier === 'zod' ? undefined : 'protocol imports only zod';
      return ['protocol', 'errors.ts'].includes(layer(i.target)) ? undefined : 'protocol may import only protocol and errors';
    }),
    breaking: [[edge('protocol/subjects.ts', 'ports/bus.ts', { typeOnly: true })]],
  },

  'keeps platform/ a leaf: node built-ins and port types only': {
    rule: perImport((i) => {
      if (layer(i.file) !== 'platform') return undefined;
      if (!i.target) return isBuiltin(i.specifier) ? undefined : 'platform/ uses node built-ins only';
      return ['platform', 'ports'].includes(layer(i.target)) && (i.typeOnly || layer(i.target) === 'platform') ? undefined : 'platform/ may import only port types: every layer imports it';
    }),
    breaking: [[edge('platform/boot-id.ts', 'errors.ts')], [edge('platform/run-members.ts', 'ports/process-control.ts')], [pkg('platform/boot-id.ts', 'zod')]],
  },
};

function edge(file: string, target: string, extra: Partial<Import> = {}): Import {
  return { file, specifier: `./${target}`, typeOnly: false, lazy: false, target, ...extra };
}

function pkg(file: string, specifier: string): Import {
  return { file, specifier, typeOnly: false, lazy: false };
}

describe('layering of src/', () => {
  it('finds the imports it checks', () => {
    expect(all.length).toBeGreaterThan(20);
    expect(all.some((i) => i.file.startsWith('machines/') && i.specifier === 'xstate')).toBe(true);
    expect(all.some((i) => i.file.startsWith('cluster/') && i.specifier.startsWith('@nats-io/'))).toBe(true);
  });

  it.each(Object.entries(rules))('%s', (_name, { rule }) => {
    expect(rule(all)).toEqual([]);
  });

  it.each(Object.entries(rules))('would catch a violation: %s', (_name, { rule, breaking }) => {
    for (const imports of breaking) expect(rule([...all, ...imports]), JSON.stringify(imports)).not.toEqual([]);
  });
});
