import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.ts';
import { BUCKET, CONSUMER, NATS_DIR, NATS_SERVER, PASSWORDS, read, ROOT, STREAM, USER_VARIABLES } from './deployment-fixtures.ts';

/**
 * The NATS server configs in deploy/nats: single.conf and nats-{1,2,3}.conf pass
 * `nats-server -t`, refuse to start without their passwords, define the users Reeve's
 * deployment needs with passwords from variables Reeve leaves alone, grant Reeve's default
 * names, and route the three cluster servers to each other. What each user may do on a running
 * server is checked in deployment-files.test.ts.
 */

function checkConfig(file: string, env: Record<string, string | undefined>) {
  const r = spawnSync(NATS_SERVER, ['-t', '-c', file], { env: { PATH: process.env.PATH, ...env }, encoding: 'utf8', timeout: 10_000 });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('deploy/nats server configs', () => {
  it.each(['single.conf', 'nats-1.conf', 'nats-2.conf', 'nats-3.conf'])('%s passes nats-server -t', (file) => {
    const r = checkConfig(join(NATS_DIR, file), PASSWORDS);
    expect(r.output).toContain('is valid');
    expect(r.code).toBe(0);
  });

  it('define the publisher, node, operator, approver and sys users, with passwords from variables Reeve leaves alone', () => {
    expect(Object.keys(USER_VARIABLES).sort()).toEqual(['approver', 'node', 'operator', 'publisher', 'sys']);
    // Reeve reads every REEVE_* variable as a config override and refuses unknown ones.
    for (const variable of Object.values(USER_VARIABLES)) expect(variable).not.toMatch(/^REEVE_/);
    const example = read('deploy/cluster.env.example');
    const listed = [...example.matchAll(/^(\w+)=$/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual(Object.values(USER_VARIABLES).sort());
  });

  it("grant Reeve's default subject prefix, stream and bucket names", () => {
    const defaults = parseConfig({}, { baseDir: ROOT });
    expect([defaults.nats.prefix, defaults.nats.stream, defaults.store.bucket]).toEqual(['reeve', STREAM, BUCKET]);
    const auth = read('deploy/nats/auth.conf');
    for (const granted of ['"reeve.>"', `"$JS.API.STREAM.CREATE.${STREAM}"`, `"$JS.API.CONSUMER.MSG.NEXT.${STREAM}.${CONSUMER}"`, `"$KV.${BUCKET}.>"`]) expect(auth).toContain(granted);
  });

  it('refuse to start when a password is not in the environment', () => {
    const { [USER_VARIABLES.node]: _missing, ...rest } = PASSWORDS;
    const r = checkConfig(join(NATS_DIR, 'single.conf'), rest);
    expect(r.code).not.toBe(0);
    expect(r.output).toContain(USER_VARIABLES.node);
  });

  it('name each cluster server uniquely, route to all three on 6222 and raise max_payload', () => {
    for (const n of [1, 2, 3]) {
      const text = read(`deploy/nats/nats-${n}.conf`);
      expect(text).toMatch(new RegExp(`^server_name: nats-${n}$`, 'm'));
      expect(text).toMatch(/^include \.\/server\.conf$/m);
      expect(text).toMatch(/^include \.\/cluster\.conf$/m);
    }
    const cluster = read('deploy/nats/cluster.conf');
    for (const n of [1, 2, 3]) expect(cluster).toContain(`"nats-route://nats-${n}:6222"`);
    expect(cluster).toMatch(/^\s*port: 6222$/m);
    const server = read('deploy/nats/server.conf');
    expect(server).toMatch(/^port: 4222$/m);
    expect(server).toMatch(/^http_port: 8222$/m);
    expect(server).toMatch(/^max_payload: 8MB$/m);
  });
});
