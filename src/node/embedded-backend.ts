/** The embedded backend (store.type "sqlite"): one SQLite file and an in-process bus. */
import type { Backend, BackendOptions } from './backend.ts';
import { withTaskEvents } from '../actors/task-events.ts';
import { watchForeignWrites } from '../store/sqlite/foreign-writes.ts';
import { openSqliteTaskStore } from '../store/sqlite/sqlite-task-store.ts';
import { InProcessBus } from '../transport/in-process-bus.ts';
import { subjects as subjectsFor } from '../protocol/subjects.ts';
import { notifyEvents } from '../config/notify-schema.ts';

export function openEmbedded({ config, log, clock, name }: BackendOptions): Backend {
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
    watchForeignWrites: (onWrite, wanted) => {
      if (config.store.path === ':memory:') return () => undefined;
      const watch = watchForeignWrites(config.store.path, () => sqlite.externalWriteMark(), onWrite, log, wanted);
      return () => watch.close();
    },
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
