/**
 * The Backend seam (types only, so both backends can import it without a cycle). Where a node
 * or a CLI command keeps its state and how it talks to the others, chosen by `store.type`:
 * embedded (SQLite file, in-process bus) or cluster (NATS: JetStream KV for the records, a
 * JetStream work queue for submissions, core NATS for events and control). Both give the same
 * ports, so the runtime and the CLI above do not know which one they run on.
 */
import type { Config } from '../config/schema.ts';
import type { Bus } from '../ports/bus.ts';
import type { Clock } from '../ports/clock.ts';
import type { Logger } from '../ports/logger.ts';
import type { ReeveStore } from '../ports/reeve-store.ts';
import type { SubmitRequest } from '../protocol/task.ts';
import type { PullResult } from '../cluster/submit-intake.ts';
import type { Subjects } from '../protocol/subjects.ts';

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
  readonly intake?: { pull(max: number, knownKind: (kind: string) => boolean, onAccepted: () => void, kinds?: IntakeKinds): Promise<PullResult> };
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

/** What the intake says about kinds beyond `knownKind` (see ClusterKinds). */
export interface IntakeKinds {
  /** Every kind some live node runs, for the UNKNOWN_KIND reason. */
  all(): Iterable<string>;
  /** False while an unknown kind may still turn out known (the node just started). */
  settled(): boolean;
}

