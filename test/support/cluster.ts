import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, jetstreamManager, type JetStreamClient } from '@nats-io/jetstream';
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

/**
 * Opens the shared KV store as an observer. It creates the bucket when it does not exist yet, with
 * `replicas` (default 1): open it after the nodes when they are configured with more replicas.
 */
export async function observe(servers: string[], bucket = 'reeve-tasks', options: { replicas?: number } = {}): Promise<Observer> {
  const nc = await connect({ servers, noAsyncTraces: true, maxReconnectAttempts: -1 });
  const store = await openKvTaskStore({ nc, bucket, ...(options.replicas === undefined ? {} : { replicas: options.replicas }) });
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

/** A started `reeve start` process (see clusterProject().start). */
export type NodeProcess = ReturnType<typeof startReeve>;

/** Neither exited nor killed by a signal. */
export function isRunning(node: ChildProcess): boolean {
  return node.exitCode === null && node.signalCode === null;
}

/**
 * Stops node processes: SIGTERM (a drain), then SIGKILL after `graceMs`. Resolves with each exit
 * code (null when it had to be killed, or was killed before). Safe in a finally block: it never
 * throws and ends every process it is given.
 */
export async function stopNodes(nodes: NodeProcess[], graceMs = 15_000): Promise<Array<number | null>> {
  return Promise.all(
    nodes.map(async (node) => {
      if (isRunning(node)) node.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), graceMs)));
      const code = await Promise.race([node.exited, killed]);
      clearTimeout(timer);
      if (code === 'timeout') {
        node.kill('SIGKILL');
        await node.exited;
        return null;
      }
      return code;
    }),
  );
}

/** Every JSON message on `subject` from now on, in arrival order (core NATS). */
export function collect<T = unknown>(nc: NatsConnection, subject: string): { messages: T[]; raw: string[]; stop(): void } {
  const messages: T[] = [];
  const raw: string[] = [];
  const sub = nc.subscribe(subject, {
    callback: (_err, msg) => {
      const text = msg.string();
      raw.push(text);
      try {
        messages.push(JSON.parse(text) as T);
      } catch {
        // kept in raw only
      }
    },
  });
  return { messages, raw, stop: () => sub.unsubscribe() };
}

/**
 * A JetStream publish with `Nats-Msg-Id` = `msgID`, retried on any error (timeouts and "no
 * responders" during a failover) until it is acknowledged or `timeoutMs` has passed. A retry of
 * a publish the stream did store is absorbed by the server's deduplication (same id).
 */
export async function publishRetrying(js: JetStreamClient, subject: string, body: string | Uint8Array, msgID: string, timeoutMs = 30_000): Promise<{ tries: number; duplicate: boolean }> {
  const deadline = Date.now() + timeoutMs;
  for (let tries = 1; ; tries++) {
    try {
      const ack = await js.publish(subject, body, { msgID, timeout: 2_000 });
      return { tries, duplicate: ack.duplicate };
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`publishing ${msgID} failed for ${timeoutMs} ms (${tries} tries): ${(err as Error).message}`);
      await sleep(200);
    }
  }
}

/** The `server_name` of the server leading a JetStream stream (a KV bucket is stream `KV_<bucket>`). */
export async function streamLeader(nc: NatsConnection, stream: string): Promise<string | undefined> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(stream)).cluster?.leader;
}

export interface NodeStatus {
  id: string;
  incarnation: string;
  state: 'up' | 'draining' | 'drained' | 'dead';
  running: number;
}

/** `reeve status --json`, or undefined when the command failed (NATS unreachable). */
export async function clusterStatus(cluster: Pick<ClusterProject, 'cli'>): Promise<{ nodes: NodeStatus[]; counts: Record<string, number> } | undefined> {
  const r = await cluster.cli(['status', '--json']);
  if (r.code !== 0) return undefined;
  try {
    return JSON.parse(r.stdout) as { nodes: NodeStatus[]; counts: Record<string, number> };
  } catch {
    return undefined;
  }
}

/**
 * Waits until `reeve status --json` lists every one of `ids` as `up`. Given the node processes,
 * a timeout says which of them exited and what each last wrote to stderr.
 */
export async function untilNodesUp(cluster: Pick<ClusterProject, 'cli'>, ids: string[], timeoutMs = 30_000, processes: NodeProcess[] = []): Promise<NodeStatus[]> {
  const status = await until(
    () => clusterStatus(cluster),
    (s) => ids.every((id) => s?.nodes.find((n) => n.id === id)?.state === 'up'),
    timeoutMs,
    (s) => `nodes not up: ${JSON.stringify(s?.nodes)}${processes.map(describeProcess).join('')}`,
  );
  return status!.nodes;
}

function describeProcess(node: NodeProcess, i: number): string {
  const state = isRunning(node) ? 'running' : `exited (${node.exitCode ?? node.signalCode})`;
  return `\n--- process ${i} (pid ${node.pid}) ${state}, stderr tail:\n${node.stderrText().slice(-2000)}`;
}
