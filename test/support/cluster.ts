import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { KvTaskStore } from '../../src/store/kv/kv-task-store.ts';
import { openKvTaskStore } from '../../src/store/kv/kv-task-store.ts';
import { project, reeve, startReeve, type CliResult } from './cli.ts';

/**
 * Reeve nodes as separate OS processes (`reeve start`) on one NATS, and an observer connection
 * the test reads the shared KV store through.
 */
export interface ClusterProject {
  dir: string;
  remove(): void;
  /** `reeve start` in this project as node `id` (its own dataDir under the project). */
  start(id: string, env?: Record<string, string>): ReturnType<typeof startReeve>;
  /** Any CLI command against the cluster. */
  cli(args: string[], env?: Record<string, string>): Promise<CliResult>;
}

export function clusterProject(options: { servers: string[]; agents: Record<string, unknown>; node?: Record<string, unknown>; nats?: Record<string, unknown>; bucket?: string }): ClusterProject {
  const p = project({
    node: { pollIntervalMs: 50, leaseTtlMs: 3000, sweepIntervalMs: 250, drainTimeoutMs: 5000, logLevel: 'warn', ...options.node },
    store: { type: 'nats', bucket: options.bucket ?? 'reeve-tasks' },
    nats: { servers: options.servers, ...options.nats },
    agents: options.agents,
  });
  return {
    dir: p.dir,
    remove: p.remove,
    start: (id, env = {}) => startReeve(p.dir, { REEVE_NODE__ID: id, REEVE_NODE__DATADIR: `.reeve-${id}`, ...env }),
    cli: (args, env = {}) => reeve(p.dir, args, env),
  };
}

export interface Observer {
  nc: NatsConnection;
  js: JetStreamClient;
  store: KvTaskStore;
  close(): Promise<void>;
}

export async function observe(servers: string[], bucket = 'reeve-tasks'): Promise<Observer> {
  const nc = await connect({ servers, noAsyncTraces: true, maxReconnectAttempts: -1 });
  const store = await openKvTaskStore({ nc, bucket });
  return {
    nc,
    js: jetstream(nc),
    store,
    close: async () => {
      await store.close();
      await nc.close();
    },
  };
}

/** Polls `probe` until `ok`, then returns its last value; throws with `describe` after the timeout. */
export async function until<T>(probe: () => Promise<T> | T, ok: (value: T) => boolean, timeoutMs: number, describe: (value: T) => string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${describe(value)}`);
    await sleep(100);
  }
}

/** Lines of a run log written by test/fixtures/agents/records-run.ts: task id → node ids that ran it. */
export function runsByTask(logFile: string): Map<string, string[]> {
  const runs = new Map<string, string[]>();
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return runs;
  }
  for (const line of text.split('\n')) {
    const [task, node] = line.split(' ');
    if (!task || !node) continue;
    runs.set(task, [...(runs.get(task) ?? []), node]);
  }
  return runs;
}
