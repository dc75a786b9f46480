import { join } from 'node:path';
import { z } from 'zod';
import { WS_URL_PATTERN } from '../protocol/patterns.ts';
import { agentSchema } from './agent-schema.ts';
import { count, ms, nameField, oneOf, pathField, show } from './fields.ts';
import { notifyDeliverySchema, notifySchema } from './notify-schema.ts';

/**
 * The configuration file's shape (DESIGN.md, "External contract" > "Config"). Every object is
 * strict so a misspelt key is reported instead of silently ignored, and every field has its
 * default here, so code past `loadConfig` receives a complete `Config`.
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** Variables a command agent inherits from the node unless its `env` says otherwise. */
export const DEFAULT_ENV_ALLOW_LIST = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'TERM', 'TMPDIR', 'USER', 'SHELL', 'TZ'];

const nodeSchema = z.strictObject({
  /** Stable node name; when absent one is generated once and kept in `dataDir`. */
  id: nameField.optional(),
  /** Runs at once on this node, across kinds. */
  concurrency: count().default(8),
  /** Worker threads for module agents. Default: min(concurrency, 2 × CPUs). */
  threads: count().optional(),
  /**
   * Module runs sharing one worker thread (async agents interleave). Default: enough for
   * `concurrency` runs on `threads` threads. Set 1 to isolate every run in its own thread: a
   * run killed for hanging then takes no other run down with its thread.
   */
  tasksPerThread: count().optional(),
  /** Node state (id, default SQLite file); relative to the config file. */
  dataDir: pathField.default('.reeve'),
  /** On drain or SIGTERM, how long in-flight runs may finish before they are handed back. */
  drainTimeoutMs: ms('non-negative').default(30_000),
  leaseTtlMs: ms().default(15_000),
  /** A run that reports no heartbeat for this long is hung. Default: off. */
  heartbeatTimeoutMs: ms().optional(),
  /** How often the dispatcher looks for claimable tasks when it has free slots. */
  pollIntervalMs: ms().default(250),
  /** How often expired leases are looked for. */
  sweepIntervalMs: ms().default(1000),
  /** How often leftover process trees are looked for. */
  reapIntervalMs: ms().default(60_000),
  /** The crash (lost lease) that brings a task's count to this quarantines it as poison. */
  crashLimit: count().default(3),
  /** Never signalled, whatever a run's process tree contains. */
  protectedPids: z.array(count()).default(() => []),
  logLevel: oneOf(LOG_LEVELS).default('info'),
  /** Environment variables passed from the node to command agents. */
  envAllowList: z.array(z.string().min(1)).default(() => [...DEFAULT_ENV_ALLOW_LIST]),
});

const storeSchema = z.strictObject({
  type: oneOf(['sqlite', 'nats']).default('sqlite'),
  /** SQLite file; default `<dataDir>/reeve.db`. */
  path: pathField.optional(),
  /** `full` fsyncs every commit (survives power loss); `normal` survives a process crash. */
  durability: oneOf(['normal', 'full']).default('normal'),
  /** JetStream KV bucket of the `nats` store. */
  bucket: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, { error: (issue) => `expected a bucket name of 1-64 A-Z, a-z, 0-9, "_" or "-", got ${show(issue.input)}` })
    .default('reeve-tasks'),
});

/** One string or an array of strings; `"nats://a:4222,nats://b:4222"` is split at commas. */
const serversField = z.preprocess(
  (value: string | string[]) => (typeof value === 'string' ? value.split(',').map((s) => s.trim()).filter((s) => s !== '') : value),
  z
    .array(z.string().min(1), { error: (issue) => `expected server URLs such as ["nats://127.0.0.1:4222"], got ${show(issue.input)}` })
    .min(1, 'expected at least one server URL, e.g. "nats://127.0.0.1:4222"'),
);

const natsSchema = z.strictObject({
  servers: serversField.default(() => ['nats://127.0.0.1:4222']),
  /** First token of every subject (`reeve.submit`, `reeve.events.…`). */
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, { error: (issue) => `expected 1-32 characters of A-Z, a-z, 0-9, "_" or "-" (a subject token), got ${show(issue.input)}` })
    .default('reeve'),
  user: z.string().optional(),
  pass: z.string().optional(),
  token: z.string().optional(),
  nkey: z.string().optional(),
  /** A `.creds` file (JWT + nkey seed). */
  creds: pathField.optional(),
  tls: z.strictObject({ ca: pathField.optional(), cert: pathField.optional(), key: pathField.optional() }).optional(),
  /** Replicas of the submission stream and the KV bucket when Reeve creates them (3 in a 3-server cluster). */
  replicas: z.union([z.literal(1), z.literal(3), z.literal(5)], { error: (issue) => `expected 1, 3 or 5 (replicas of an R1/R3/R5 stream), got ${show(issue.input)}` }).default(1),
  /** JetStream stream of submissions (work queue on `<prefix>.submit`). */
  stream: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, { error: (issue) => `expected a stream name of 1-64 A-Z, a-z, 0-9, "_" or "-", got ${show(issue.input)}` })
    .default('REEVE_SUBMIT'),
  /** Server-side deduplication window of `Nats-Msg-Id` on the submission stream. */
  duplicateWindowMs: ms().default(120_000),
  /**
   * How long start-up waits for JetStream to answer (a fresh cluster electing stream leaders,
   * a server restarting) before it gives up with exit 5. A NATS that cannot be reached at all
   * fails at once.
   */
  startupTimeoutMs: ms().default(30_000),
});

const portError = (issue: { input?: unknown }) => `expected a port number from 0 to 65535 (0: any free port), got ${show(issue.input)}`;

const httpSchema = z.strictObject({
  /** HTTP is off unless a port is set; 0 picks a free port. */
  port: z.number({ error: portError }).int({ error: portError }).min(0, { error: portError }).max(65_535, { error: portError }).optional(),
  /** Loopback unless told otherwise: the API can cancel and approve tasks. */
  host: z.string().min(1).default('127.0.0.1'),
  /** Bearer token required by mutating endpoints (and by reads off loopback). Default: generated once, kept in `dataDir/http-token`. */
  token: z.string().min(1).optional(),
  /** Host names (besides the bound address and localhost) a request's `Host` header may carry. */
  allowedHosts: z.array(z.string().min(1)).optional(),
});

const wsUrlError = (issue: { input?: unknown }) => `expected a WebSocket URL such as "ws://127.0.0.1:8080", got ${show(issue.input)}`;

/**
 * The XState inspector (DESIGN.md, "XState inspector"). `true` is `{ enabled: true }`; off by
 * default, and then @statelyai/inspect is not even loaded.
 */
const inspectSchema = z.preprocess(
  (value) => (typeof value === 'boolean' ? { enabled: value } : value),
  z.strictObject(
    {
      /** Serve a relay at `ws://HOST:PORT/inspect` (HTTP starts on a free loopback port when `http.port` is unset). */
      enabled: z.boolean().default(false),
      /** Also push every inspection event to this outside relay (`ws://` or `wss://`). */
      url: z.string({ error: wsUrlError }).regex(WS_URL_PATTERN, { error: wsUrlError }).optional(),
      /** Each snapshot's context and each event are cut to about this many bytes of JSON (inputs, outputs and results are left out anyway). */
      maxContextBytes: count().min(256, { error: (issue) => `expected at least 256 bytes, got ${show(issue.input)}` }).default(4096),
      /** Messages queued per receiver that reads slowly; past it the oldest are dropped and counted in /metrics. */
      bufferMessages: count().default(1000),
    },
    { error: (issue) => `expected true, false or { enabled, url, maxContextBytes, bufferMessages }, got ${show(issue.input)}` },
  ),
);

const rootSchema = z.strictObject({
  node: nodeSchema.prefault({}),
  store: storeSchema.prefault({}),
  nats: natsSchema.prefault({}),
  http: httpSchema.prefault({}),
  inspect: inspectSchema.prefault({}),
  /**
   * Strings redacted wherever they appear in logs: run logs, the node's log lines, module agents'
   * `ctx.log`. Values under 4 characters are ignored (they would match all over ordinary text).
   */
  secrets: z.array(z.string().min(1, 'expected a non-empty secret')).default(() => []),
  /** Agent kinds by name. */
  agents: z.record(nameField, agentSchema).default(() => ({})),
  /** Who is told about failures, waiting tasks, breakers, dead nodes and dead letters (notify-schema.ts). */
  notify: notifySchema.default(() => []),
  notifyDelivery: notifyDeliverySchema.prefault({}),
});

export const configSchema = rootSchema.transform((config) => ({
  ...config,
  // Known only once dataDir is: defaulted here so `store.path` is never optional downstream.
  store: { ...config.store, path: config.store.path ?? join(config.node.dataDir, 'reeve.db') },
}));

/** What a config file may contain: everything optional that has a default. */
export type ConfigInput = z.input<typeof configSchema>;
/** The validated, fully defaulted configuration; `loadConfig` returns it deep-frozen. */
export type Config = z.output<typeof configSchema>;
export type NodeConfig = Config['node'];
export type StoreConfig = Config['store'];
export type NatsConfig = Config['nats'];
export type HttpConfig = Config['http'];
export type InspectConfig = Config['inspect'];
export type { NotifyDelivery, NotifyRule } from './notify-schema.ts';

export type { AgentConfig, CommandAgentConfig, HandlerConfig, ModuleAgentConfig, StepConfig, StepsAgentConfig } from './agent-schema.ts';
