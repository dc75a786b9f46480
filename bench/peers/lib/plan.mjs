/** Which peers run which workload, what server each needs, and the targets of issue 17. */
export const PLAN = {
  noop: ['reeve-embedded', 'bullmq-sandboxed', 'bullmq-inline', 'pg-boss', 'graphile-worker', 'raw-sqlite', 'raw-jetstream', 'reeve-cluster-1', 'reeve-cluster-2'],
  sleep: ['reeve-embedded', 'bullmq-sandboxed', 'bullmq-inline', 'pg-boss', 'graphile-worker', 'reeve-cluster-1'],
  latency: ['reeve-embedded', 'bullmq-sandboxed', 'bullmq-inline', 'pg-boss', 'graphile-worker'],
  // BullMQ sandboxed is left out: it starts a worker thread per concurrent job (1,000 threads).
  memory: ['reeve-embedded', 'bullmq-inline', 'pg-boss', 'graphile-worker'],
  spawn: ['reeve-embedded', 'bare-execa'],
  io: ['reeve-cluster-1', 'reeve-cluster-2'],
};

export const SERVER_OF = {
  'bullmq-inline': 'redis',
  'bullmq-sandboxed': 'redis',
  'pg-boss': 'postgres',
  'graphile-worker': 'postgres',
  'raw-jetstream': 'nats',
  'reeve-cluster-1': 'nats',
  'reeve-cluster-2': 'nats',
};

/** Units and direction of each workload's headline figure. */
export const METRIC = {
  noop: { key: 'value', unit: 'tasks/s', higher: true },
  sleep: { key: 'value', unit: 'tasks/s', higher: true },
  latency: { key: 'p99', unit: 'ms p99', higher: false },
  memory: { key: 'value', unit: 'KB/task', higher: false },
  spawn: { key: 'value', unit: 'tasks/s', higher: true },
  io: { key: 'value', unit: 'tasks/s', higher: true },
};

/** Issue 17 "Targets": a ratio of two figures of the same round, or one figure against a bound. */
export const TARGETS = [
  { label: 'embedded no-op ÷ BullMQ sandboxed (required)', num: 'noop/reeve-embedded', den: 'noop/bullmq-sandboxed', atLeast: 1.0 },
  { label: 'embedded no-op ÷ BullMQ inline (required)', num: 'noop/reeve-embedded', den: 'noop/bullmq-inline', atLeast: 0.5 },
  { label: 'p99 submit→start at 500/s, other process', abs: 'latency/reeve-embedded', key: 'p99', atMost: 10, unit: 'ms' },
  { label: 'RSS per extra in-flight sleeping task', abs: 'memory/reeve-embedded', key: 'value', atMost: 50, unit: 'KB' },
  { label: 'command agents ÷ bare execa', num: 'spawn/reeve-embedded', den: 'spawn/bare-execa', atLeast: 0.9 },
  { label: '1 cluster node ÷ raw JetStream consume+ack', num: 'noop/reeve-cluster-1', den: 'noop/raw-jetstream', atLeast: 0.12 },
  { label: '2 cluster nodes ÷ 1 node, I/O-bound', num: 'io/reeve-cluster-2', den: 'io/reeve-cluster-1', atLeast: 1.8 },
];
