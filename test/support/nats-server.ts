import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { tempDir } from './temp-dir.ts';

export interface NatsServer {
  /** `nats://127.0.0.1:PORT` */
  url: string;
  port: number;
  /** SIGTERM, SIGKILL after 2 s, then removes the store directory. */
  stop(): Promise<void>;
}

/** Servers still running: killed if the test process exits without stopping them. */
const live = new Set<ChildProcess>();
let exitHook = false;

const BINARY = process.env.NATS_SERVER_BIN ?? (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server');

/**
 * A real nats-server with JetStream on a random loopback port and a temp store directory.
 * Resolves once the server accepts connections and JetStream answers (a fresh server may
 * need a moment before its JetStream API replies).
 */
export async function startNatsServer(options: { startTimeoutMs?: number; args?: string[] } = {}): Promise<NatsServer> {
  const dir = tempDir('reeve-nats-');
  const deadline = Date.now() + (options.startTimeoutMs ?? 15_000);
  const child = spawn(
    BINARY,
    ['-js', '-a', '127.0.0.1', '-p', '-1', '--store_dir', join(dir.path, 'js'), '--ports_file_dir', dir.path, ...(options.args ?? [])],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  live.add(child);
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of live) c.kill('SIGKILL');
    });
  }
  let log = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    log = (log + chunk).slice(-4000);
  });
  let exited: string | undefined;
  child.once('exit', (code, signal) => {
    live.delete(child);
    exited = `nats-server exited (${signal ?? code})`;
  });
  child.once('error', (err) => {
    exited = `nats-server did not start: ${err.message}`;
  });
  const fail = async (why: string): Promise<never> => {
    await kill(child);
    dir.remove();
    throw new Error(`${why}\n${log}`);
  };

  let port: number | undefined;
  while (port === undefined) {
    if (exited) return fail(exited);
    if (Date.now() > deadline) return fail('nats-server wrote no ports file in time');
    port = readPort(dir.path);
    if (port === undefined) await sleep(20);
  }
  const url = `nats://127.0.0.1:${port}`;

  for (;;) {
    if (exited) return fail(exited);
    if (Date.now() > deadline) return fail(`JetStream at ${url} did not answer in time`);
    const nc = await connect({ servers: url, reconnect: false, timeout: 1000 }).catch(() => undefined);
    if (nc) {
      const ready = await jetstreamManager(nc, { timeout: 1000 })
        .then((jsm) => jsm.getAccountInfo())
        .then(() => true)
        .catch(() => false);
      await nc.close();
      if (ready) break;
    }
    await sleep(50);
  }

  return {
    url,
    port,
    stop: async () => {
      await kill(child);
      dir.remove();
    },
  };
}

/** The client port from the `<name>_<pid>.ports` file nats-server writes once it listens. */
function readPort(dir: string): number | undefined {
  const file = readdirSync(dir).find((name) => name.endsWith('.ports'));
  if (!file) return undefined;
  try {
    // 2.9.10 writes `{"nats":["nats://127.0.0.1:PORT"]}`; newer servers may say `client`.
    const ports = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { nats?: string[]; client?: string[] };
    const client = ports.nats?.[0] ?? ports.client?.[0];
    const port = client ? Number(new URL(client.replace(/^nats:/, 'http:')).port) : NaN;
    return Number.isInteger(port) && port > 0 ? port : undefined;
  } catch {
    return undefined; // written but not complete yet
  }
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await gone;
  clearTimeout(timer);
}
