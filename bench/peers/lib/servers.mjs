/**
 * The servers the peers need, each on a free 127.0.0.1 port in a temp dir of its own: Redis
 * (BullMQ), PostgreSQL (pg-boss, graphile-worker), nats-server (raw JetStream, Reeve cluster).
 * A binary that is not installed gives `{ skipped: 'why' }` instead of a server. Every server
 * is stopped by stopAll(), and by the exit hook if the bench dies first.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const running = new Set();

/** A port nothing listens on right now (the server binds it a moment later). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function which(bin, extraDirs = []) {
  for (const dir of [...(process.env.PATH ?? '').split(':'), ...extraDirs]) if (dir && existsSync(join(dir, bin))) return join(dir, bin);
  return undefined;
}

async function waitForPort(port, what, child, timeoutMs = 20_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const c = createConnection({ host: '127.0.0.1', port }, () => (c.end(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (child && child.exitCode !== null) throw new Error(`${what} exited with ${child.exitCode} before listening`);
    if (Date.now() > until) throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

function tracked(name, dir, stop) {
  const server = { name, dir, stop: async () => { running.delete(server); await stop(); rmSync(dir, { recursive: true, force: true }); } };
  running.add(server);
  return server;
}

function startChild(name, bin, args, dir) {
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  child.stderrText = () => stderr;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const server = tracked(name, dir, async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  });
  server.kill = () => child.kill('SIGKILL');
  return { child, server };
}

export async function startRedis() {
  const bin = which('redis-server');
  if (!bin) return { skipped: 'redis-server not installed (apt-get install -y redis-server): BullMQ skipped' };
  const dir = mkdtempSync(join(tmpdir(), 'peers-redis-'));
  const port = await freePort();
  // Redis as it ships (RDB snapshots, no AOF): how BullMQ is usually run.
  const { child, server } = startChild('redis', bin, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--daemonize', 'no', '--protected-mode', 'yes'], dir);
  await waitForPort(port, 'redis-server', child);
  return Object.assign(server, { url: `redis://127.0.0.1:${port}`, port });
}

export async function startNats() {
  const bin = which('nats-server', ['/usr/sbin']);
  if (!bin) return { skipped: 'nats-server not installed: raw JetStream and Reeve cluster skipped' };
  const dir = mkdtempSync(join(tmpdir(), 'peers-nats-'));
  const port = await freePort();
  const { child, server } = startChild('nats', bin, ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', dir], dir);
  await waitForPort(port, 'nats-server', child);
  await sleep(300); // JetStream is enabled a moment after the port opens
  return Object.assign(server, { url: `nats://127.0.0.1:${port}`, port });
}

/** PostgreSQL's bin dir of the newest installed major (Debian: /usr/lib/postgresql/N/bin). */
function pgBin() {
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const majors = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'pg_ctl'))).sort((a, b) => Number(b) - Number(a));
    if (majors.length > 0) return join(base, majors[0], 'bin');
  }
  const ctl = which('pg_ctl');
  return ctl ? join(ctl, '..') : undefined;
}

export async function startPostgres() {
  const bin = pgBin();
  if (!bin) return { skipped: 'PostgreSQL not installed (apt-get install -y postgresql): pg-boss and graphile-worker skipped' };
  // postgres refuses to run as root: as root, run it as the `postgres` user the package creates.
  const asRoot = process.getuid?.() === 0;
  let uid;
  if (asRoot) {
    const id = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    if (id.status !== 0) return { skipped: 'running as root and there is no postgres user to run PostgreSQL as: pg-boss and graphile-worker skipped' };
    uid = Number(id.stdout.trim());
  }
  const run = (tool, args) => {
    const argv = asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]] : [join(bin, tool), args];
    const r = spawnSync(argv[0], argv[1], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
  };
  const dir = mkdtempSync(join(tmpdir(), 'peers-pg-'));
  if (asRoot) chownSync(dir, uid, -1);
  const data = join(dir, 'data');
  const port = await freePort();
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  // PostgreSQL's defaults otherwise (fsync on, synchronous_commit on): durable, as it ships.
  const opts = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200`;
  const server = tracked('postgres', dir, async () => run('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']));
  server.kill = () => spawnSync(asRoot ? 'runuser' : join(bin, 'pg_ctl'), asRoot ? ['-u', 'postgres', '--', join(bin, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop'] : ['-D', data, '-m', 'immediate', 'stop']);
  run('pg_ctl', ['-D', data, '-o', opts, '-l', join(dir, 'log'), '-w', 'start']);
  await waitForPort(port, 'postgres');
  return Object.assign(server, { url: `postgres://postgres@127.0.0.1:${port}/postgres`, port });
}

export async function stopAll() {
  await Promise.allSettled([...running].map((s) => s.stop()));
}

/** Last resort when the bench process dies: synchronous kills only. */
process.once('exit', () => {
  for (const s of running) {
    try {
      s.kill?.();
      rmSync(s.dir, { recursive: true, force: true });
    } catch {
      // best effort at exit
    }
  }
});
