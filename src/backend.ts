/**
 * Where a node or a CLI command keeps its state and how it talks to the others, chosen by
 * `store.type`: embedded (SQLite file, in-process bus) or cluster (NATS: JetStream KV for the
 * records, a JetStream work queue for submissions, core NATS for events and control). Both give
 * the same ports, so the runtime and the CLI above do not know which one they run on.
 */
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Config } from './config/schema.ts';
import { withTaskEvents } from './cluster/task-events.ts';
import { ensureSubmitStream } from './cluster/submit-stream.ts';
import { SubmitIntake, type PullResult } from './cluster/submit-intake.ts';
import { publishSubmission } from './cluster/publish-submission.ts';
import { toError } from './errors.ts';
import type { Bus } from './ports/bus.ts';
import type { Clock } from './ports/clock.ts';
import type { Logger } from './ports/logger.ts';
import type { ReeveStore } from './ports/reeve-store.ts';
import type { SubmitRequest } from './protocol/task.ts';
import { openKvTaskStore } from './store/kv/kv-task-store.ts';
import { openSqliteTaskStore } from './store/sqlite/sqlite-task-store.ts';
import { InProcessBus } from './transport/in-process-bus.ts';
import { connectNats } from './transport/nats-connect.ts';
import { NatsBus } from './transport/nats-bus.ts';
import { subjects as subjectsFor, type Subjects } from './transport/subjects.ts';

export interface Submitted {
  id: string;
  /** false: a task with this id already existed (or, in a cluster, NATS dropped a duplicate publish). */
  created: boolean;
  /** The state right after submitting, when this mode knows it (embedded: `queued`). */
  state?: string;
}

export interface Backend {
  readonly mode: 'embedded' | 'cluster';
  /** Every write that changes a task's state publishes its event on the bus. */
  readonly store: ReeveStore;
  readonly bus: Bus;
  readonly subjects: Subjects;
  /** Where the state lives, for logs and the start banner. */
  readonly describe: string;
  /** Cluster nodes only: pulls submissions from the shared work queue into the store. */
  readonly intake?: { pull(max: number, knownKind: (kind: string) => boolean, onAccepted: () => void): Promise<PullResult> };
  /** Submits the way this mode does: a store write (embedded) or a JetStream publish (cluster). */
  submit(request: SubmitRequest): Promise<Submitted>;
  close(): Promise<void>;
}

export interface BackendOptions {
  config: Config;
  log: Logger;
  clock: Clock;
  /** Connection name shown by the NATS server (the node's owner string, or `reeve-cli`). */
  name: string;
  /** A node pulls submissions; a client (CLI, API) only publishes them. */
  role: 'node' | 'client';
}

export async function openBackend(options: BackendOptions): Promise<Backend> {
  return options.config.store.type === 'nats' ? openCluster(options) : openEmbedded(options);
}

function openEmbedded({ config, log, clock }: BackendOptions): Backend {
  const bus = new InProcessBus({ log: log.child({ component: 'bus' }) });
  const subjects = subjectsFor(config.nats.prefix);
  const sqlite = openSqliteTaskStore({ path: config.store.path, clock, durability: config.store.durability });
  const store = withTaskEvents(sqlite, (event) => bus.publish(subjects.taskEvent(event.id), event), clock);
  return {
    mode: 'embedded',
    store,
    bus,
    subjects,
    describe: `sqlite ${config.store.path}`,
    submit: async (request) => {
      const { task, created } = await store.submit(request);
      return { id: task.id, created, state: task.state };
    },
    close: async () => {
      await store.close();
      await bus.close();
    },
  };
}

async function openCluster({ config, log, clock, name, role }: BackendOptions): Promise<Backend> {
  const nats = config.nats;
  const subjects = subjectsFor(nats.prefix);
  const nc: NatsConnection = await connectNats(nats, log.child({ component: 'nats' }), { name });
  try {
    const bus = new NatsBus(nc, { log: log.child({ component: 'bus' }), ownsConnection: false });
    const kv = await openKvTaskStore({ nc, bucket: config.store.bucket, clock, replicas: nats.replicas });
    const store = withTaskEvents(kv, (event) => bus.publish(subjects.taskEvent(event.id), event), clock);
    const js = jetstream(nc);
    let intake: Backend['intake'];
    if (role === 'node') {
      const jsm = await jetstreamManager(nc);
      const consumer = await ensureSubmitStream(jsm, { stream: nats.stream, subject: subjects.submit, replicas: nats.replicas, duplicateWindowMs: nats.duplicateWindowMs });
      // Set on each pull: the node's kinds change on a config reload.
      let known: (kind: string) => boolean = () => false;
      let accepted: () => void = () => undefined;
      const submitIntake = new SubmitIntake({ consumer, store, bus, subjects, knownKind: (kind) => known(kind), clock, log: log.child({ component: 'intake' }), onAccepted: () => accepted() });
      intake = {
        pull: (max, knownKind, onAccepted) => {
          known = knownKind;
          accepted = onAccepted;
          return submitIntake.pull(max);
        },
      };
    }
    return {
      mode: 'cluster',
      store,
      bus,
      subjects,
      describe: `nats bucket ${config.store.bucket} on ${nats.servers.join(',')}`,
      ...(intake ? { intake } : {}),
      submit: async (request) => {
        const published = await publishSubmission(js, subjects, request);
        return { id: published.id, created: !published.duplicate };
      },
      close: async () => {
        await store.close().catch((err: unknown) => log.warn({ err: toError(err) }, 'closing the KV store'));
        await bus.close().catch(() => undefined);
        // Bounded: while NATS is down a drain would wait for it to come back.
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([nc.drain().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, 2_000)))]);
        clearTimeout(timer);
        if (!nc.isClosed()) await nc.close().catch(() => undefined);
      },
    };
  } catch (err) {
    await nc.close().catch(() => undefined);
    throw err;
  }
}
