/**
 * Opens the backend that `store.type` names: embedded (SQLite + in-process bus, here) or cluster
 * (cluster/cluster-backend.ts, loaded on demand). Both give the same ports (backend-types.ts).
 */
import type { Backend, BackendOptions } from './backend-types.ts';
import { withTaskEvents } from './cluster/task-events.ts';
import { openSqliteTaskStore } from './store/sqlite/sqlite-task-store.ts';
import { InProcessBus } from './transport/in-process-bus.ts';
import { notifyEvents } from './config/notify-schema.ts';
import { subjects as subjectsFor } from './transport/subjects.ts';

export type { Backend, BackendOptions, IntakeKinds, Submitted } from './backend-types.ts';

export async function openBackend(options: BackendOptions): Promise<Backend> {
  if (options.config.store.type !== 'nats') return openEmbedded(options);
  // Loaded on demand: the NATS client libraries cost embedded users' every CLI command otherwise.
  const { openCluster } = await import('./cluster/cluster-backend.ts');
  return openCluster(options);
}

function openEmbedded({ config, log, clock, name }: BackendOptions): Backend {
  const bus = new InProcessBus({ log: log.child({ component: 'bus' }) });
  const subjects = subjectsFor(config.nats.prefix);
  const sqlite = openSqliteTaskStore({ path: config.store.path, clock, durability: config.store.durability });
  // Every process that writes records the notify config's events (a CLI's reject, dead letter).
  sqlite.recordNotifications({ node: name, events: notifyEvents(config.notify) });
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

