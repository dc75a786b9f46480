/**
 * The cluster backend (store.type "nats"): JetStream KV for records, gates and membership, a
 * JetStream work queue for submissions, core NATS for events and control. See backend.ts (the seam)
 * and open-backend.ts (which loads this module only in cluster mode).
 */
import { jetstream, jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Backend, BackendOptions, IntakeKinds } from './backend.ts';
import { toError } from '../errors.ts';
import { openKvTaskStore } from '../store/kv/kv-task-store.ts';
import { storeError } from '../store/kv/task-keys.ts';
import { connectNats } from '../transport/nats-connect.ts';
import { expectStreamLeaders } from '../store/kv/stream-leaders.ts';
import { untilJetStreamAnswers } from '../cluster/jetstream-ready.ts';
import { NatsBus } from '../transport/nats-bus.ts';
import { subjects as subjectsFor } from '../protocol/subjects.ts';
import { publishSubmission } from '../cluster/publish-submission.ts';
import { SubmitIntake } from '../cluster/submit-intake.ts';
import { handleMaxDeliveries } from '../cluster/max-deliveries.ts';
import { ensureSubmitStream, INTAKE_CONSUMER } from '../cluster/submit-stream.ts';
import { withTaskEvents } from '../actors/task-events.ts';
import { notifyEvents } from '../config/notify-schema.ts';

export async function openCluster({ config, log, clock, name, role }: BackendOptions): Promise<Backend> {
  const nats = config.nats;
  const subjects = subjectsFor(nats.prefix);
  const nc: NatsConnection = await connectNats(nats, log.child({ component: 'nats' }), { name });
  try {
    const bus = new NatsBus(nc, { log: log.child({ component: 'bus' }), ownsConnection: false });
    // Connected is not ready: a fresh cluster may still be electing the leaders of the streams.
    const ready = { timeoutMs: nats.startupTimeoutMs, log };
    const kv = await untilJetStreamAnswers(`opening KV bucket ${config.store.bucket}`, () => openKvTaskStore({ nc, bucket: config.store.bucket, clock, replicas: nats.replicas }), ready);
    // Every process that writes records the notify config's events (a CLI's reject, dead letter).
    kv.recordNotifications({ node: name, events: notifyEvents(config.notify) });
    const store = withTaskEvents(kv, (event) => bus.publish(subjects.taskEvent(event.id), event), clock);
    const js = jetstream(nc);
    let intake: Backend['intake'];
    let maxDeliveries: { close(): Promise<void> } | undefined;
    if (role === 'node') {
      let manager: JetStreamManager | undefined;
      const { consumer, jsm } = await untilJetStreamAnswers(
        `opening submission stream ${nats.stream}`,
        async () => {
          // Inside the retry: it asks the server for account info, which a failover can time out.
          const api: JetStreamManager = manager ?? (await jetstreamManager(nc).catch((err: unknown) => Promise.reject(storeError(err, 'opening the JetStream API'))));
          manager = api;
          const opened = await ensureSubmitStream(api, { stream: nats.stream, subject: subjects.submit, replicas: nats.replicas, duplicateWindowMs: nats.duplicateWindowMs });
          await expectStreamLeaders(api, [nats.stream]);
          return { consumer: opened, jsm: api };
        },
        ready,
      );
      maxDeliveries = handleMaxDeliveries({ nc, jsm, stream: nats.stream, consumer: INTAKE_CONSUMER, store, bus, subjects, clock, log: log.child({ component: 'max-deliveries' }) });
      // Set on each pull: the node's kinds change on a config reload.
      let known: (kind: string) => boolean = () => false;
      let accepted: () => void = () => undefined;
      let kinds: IntakeKinds | undefined;
      const submitIntake = new SubmitIntake({
        consumer,
        store,
        bus,
        subjects,
        knownKind: (kind) => known(kind),
        knownKinds: () => kinds?.all() ?? [],
        kindsSettled: () => kinds?.settled() ?? true,
        clock,
        log: log.child({ component: 'intake' }),
        onAccepted: () => accepted(),
      });
      intake = {
        pull: (max, knownKind, onAccepted, clusterKinds) => {
          known = knownKind;
          accepted = onAccepted;
          kinds = clusterKinds;
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
        await maxDeliveries?.close();
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
