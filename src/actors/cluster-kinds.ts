import type { Bus, Subscription } from '../ports/bus.ts';
import type { Clock } from '../ports/clock.ts';
import type { Logger } from '../ports/logger.ts';
import { nodeHeartbeatSchema } from '../protocol/messages.ts';
import type { Subjects } from '../protocol/subjects.ts';

/** A node is live while its last heartbeat is this recent (as `reeve status` counts it up). */
const LIVE_MS = 3_000;

/**
 * The kinds the live nodes of the cluster run, from their heartbeats (`kinds`, every second).
 * The intake asks it for a submission of a kind its own node lacks: if another live, claiming
 * node runs that kind, the task is stored and that node claims it (claims are filtered by each
 * node's kinds), instead of being dead-lettered as unknown. A cluster may so mix nodes with
 * different agents (a node with a GPU, one with a CLI installed).
 *
 * `settled()` is false for the first LIVE_MS after start: until then this node may not have
 * heard every other node yet, so an unknown kind is retried later rather than rejected.
 */
export class ClusterKinds {
  readonly #nodes = new Map<string, { kinds: ReadonlySet<string>; at: number }>();
  readonly #startedAt: number;
  readonly #subscription: Subscription;
  readonly #warned = new Set<string>();

  constructor(
    private readonly deps: { bus: Pick<Bus, 'subscribe'>; subjects: Pick<Subjects, 'heartbeats'>; clock: Clock; log: Logger; self: string },
  ) {
    this.#startedAt = deps.clock.now();
    this.#subscription = deps.bus.subscribe(deps.subjects.heartbeats, (message) => {
      const parsed = nodeHeartbeatSchema.safeParse(message.data);
      if (!parsed.success) {
        // Not dead-lettered: heartbeats come every second, and a bad one only means its node's
        // kinds are not counted. Said once per subject.
        if (!this.#warned.has(message.subject)) {
          this.#warned.add(message.subject);
          deps.log.warn({ subject: message.subject, issue: parsed.error.issues[0]?.message }, 'ignoring a malformed heartbeat');
        }
        return;
      }
      const beat = parsed.data;
      if (beat.id === deps.self) return;
      if (beat.state !== 'up' || !beat.kinds) this.#nodes.delete(beat.id);
      else this.#nodes.set(beat.id, { kinds: new Set(beat.kinds), at: deps.clock.now() });
    });
  }

  /** Whether a live node other than this one runs `kind`. */
  runsElsewhere(kind: string): boolean {
    const now = this.deps.clock.now();
    for (const node of this.#nodes.values()) if (now - node.at < LIVE_MS && node.kinds.has(kind)) return true;
    return false;
  }

  /** Every kind a live node other than this one runs. */
  elsewhere(): Set<string> {
    const now = this.deps.clock.now();
    const all = new Set<string>();
    for (const node of this.#nodes.values()) if (now - node.at < LIVE_MS) for (const kind of node.kinds) all.add(kind);
    return all;
  }

  /** This node has been listening long enough to have heard every live node. */
  settled(): boolean {
    return this.deps.clock.now() - this.#startedAt >= LIVE_MS;
  }

  close(): void {
    this.#subscription.unsubscribe();
  }
}
