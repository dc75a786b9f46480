import type { KV } from '@nats-io/kv';
import { ErrorCode } from '../../errors.ts';
import type { Clock } from '../../ports/clock.ts';
import type { NodeInfo } from '../../ports/node-registry.ts';
import type { DeadNodeReport, NotificationCounts, OutboxClaim, OutboxEntry, OutboxSettle } from '../../ports/outbox.ts';
import type { Notification } from '../../protocol/notification.ts';
import { parseOrThrow } from '../../protocol/validate.ts';
import { deadNodeReportSchema, outboxClaimSchema, outboxSettleSchema, purgeBeforeArg, type NotificationRecorder } from '../notifications.ts';
import { BREAKER_PREFIX, nodeKey, TASK_PREFIX, type TaskDoc } from './codec.ts';
import type { KvGateKeys } from './gate-keys.ts';
import { toOutboxEntry, type OutboxKeys, type StoredOutbox } from './outbox-keys.ts';
import { isCasConflict, storeError, type TaskKeys, type Versioned } from './task-keys.ts';

/** Records whose pending notifications one claim round moves at most (the rest wait for the next). */
const MOVE_BATCH = 256;

/**
 * The cluster's notification outbox. KV has no multi-key transaction, so a notification is
 * first written INTO the record whose change causes it (`outbox` of the task record, of the
 * breaker record), by the same compare-and-set: a crash after that write loses nothing. A
 * claiming node then moves it to its own key `o.<id>` (kv.create, leased to itself), removes it
 * from the record (CAS), and only then delivers it; the `o.` keys are claimed, retried and
 * settled by CAS like tasks (outbox-keys.ts). A crash between the two moves leaves both: the
 * next round's create finds the key and only removes it from the record. An entry is never
 * delivered while its record may still list it (a first claim of a moved entry re-checks),
 * so a delivered, purged key is never created again by a late move.
 *
 * Events with no record of their own go straight to their key: `deadletter` before the letter
 * is written (a notification of a letter whose write then failed says what was rejected), and
 * `node.dead` with an id every detector derives alike (node, incarnation, last beacon), so two
 * nodes noticing one death create one key.
 */
export class KvOutbox {
  constructor(
    private readonly kv: KV,
    private readonly keys: TaskKeys,
    private readonly gates: KvGateKeys,
    private readonly outbox: OutboxKeys,
    private readonly clock: Clock,
    private readonly recorder: NotificationRecorder,
  ) {}

  /** Writes a notification with no source record (idempotent on its id). */
  async add(notification: Notification | undefined): Promise<void> {
    if (notification === undefined) return;
    await this.outbox.create({ notification, state: 'pending', attempts: 0, nextAttemptAt: notification.at, delivered: [], updatedAt: this.clock.now() });
  }

  async claim(request: OutboxClaim): Promise<OutboxEntry[]> {
    const { owner, limit, leaseTtlMs, deadOwnerPrefix } = parseOrThrow(outboxClaimSchema, request, 'notification claim');
    const now = this.clock.now();
    const lease = { owner, leaseExpiresAt: now + leaseTtlMs };
    const claimed = await this.#moveOut(lease, limit);
    await this.outbox.ready();
    for (const [id, held] of this.outbox.candidates(now, limit - claimed.length, { owner, deadOwnerPrefix })) {
      const won = await this.outbox.update(id, { ...held.value, ...lease, updatedAt: now }, held.revision);
      if (!won) continue; // another node got it first
      const { source, attempts, delivered } = won.value;
      // Never tried: its move may not have finished (the mover crashed in between).
      if (source !== undefined && attempts === 0 && delivered.length === 0 && !(await this.#dropFromSource(source, new Set([id])).then(() => true, () => false))) continue;
      claimed.push(toOutboxEntry(id, won));
    }
    return claimed;
  }

  /** Moves the notifications still held in task and breaker records to their keys; returns those leased to the claimer. */
  async #moveOut(lease: { owner: string; leaseExpiresAt: number }, limit: number): Promise<OutboxEntry[]> {
    await this.keys.index.ready();
    let slots = limit;
    const moves: Array<{ source: string; outbox: Notification[] }> = [];
    for (const entry of this.keys.index.outboxed()) {
      if (moves.length >= MOVE_BATCH) break;
      moves.push({ source: `${TASK_PREFIX}${entry.id}`, outbox: entry.head.outbox ?? [] });
    }
    for (const b of await this.gates.breakerOutboxes()) moves.push({ source: `${BREAKER_PREFIX}${b.key}`, outbox: b.outbox });
    const claimed: OutboxEntry[] = [];
    await Promise.all(
      moves.map(async ({ source, outbox }) => {
        const mine: OutboxEntry[] = [];
        const moved = new Set<string>();
        for (const notification of outbox) {
          const leased = slots > 0;
          if (leased) slots--;
          const value: StoredOutbox = { notification, state: 'pending', attempts: 0, nextAttemptAt: notification.at, delivered: [], updatedAt: this.clock.now(), source, ...(leased ? lease : {}) };
          const created = await this.outbox.create(value).catch(() => null);
          if (created === null) continue; // unreachable: leave it in the record for the next round
          moved.add(notification.id);
          if (created && leased) mine.push(toOutboxEntry(notification.id, created));
          else if (leased) slots++;
        }
        // Delivered only once the record no longer lists them; else their lease runs out and a
        // later claim redoes this.
        if (moved.size > 0 && (await this.#dropFromSource(source, moved).then(() => true, () => false))) claimed.push(...mine);
      }),
    );
    return claimed;
  }

  async #dropFromSource(source: string, ids: ReadonlySet<string>): Promise<void> {
    if (source.startsWith(BREAKER_PREFIX)) return this.gates.dropBreakerOutbox(source.slice(BREAKER_PREFIX.length), ids);
    const id = source.slice(TASK_PREFIX.length);
    await this.keys.mutate(id, (current) => withoutNotifications(current, ids)).catch((err: unknown) => {
      if ((err as { code?: string }).code !== ErrorCode.TaskNotFound) throw err; // purged since: nothing lists it
    });
  }

  settle(request: OutboxSettle): Promise<void> {
    return this.outbox.settle(parseOrThrow(outboxSettleSchema, request, 'notification settle'));
  }

  counts(): Promise<NotificationCounts> {
    return this.outbox.counts();
  }

  purge(before: number): Promise<number> {
    return this.outbox.purgeFailed(parseOrThrow(purgeBeforeArg, before, 'notification purge'));
  }

  /**
   * The notification first (idempotent: its id is derived from the record), then the node
   * record by compare-and-set. A detector that dies in between leaves the notification, and
   * the next one finds it written and marks the record.
   */
  async markNodeDead(report: DeadNodeReport): Promise<boolean> {
    const { id, incarnation, silentSince, detectedBy } = parseOrThrow(deadNodeReportSchema, report, 'dead node report');
    const key = nodeKey(id);
    for (let attempt = 0; attempt < 10; attempt++) {
      let entry;
      try {
        entry = await this.kv.get(key);
      } catch (err) {
        throw storeError(err, `reading node ${id}`);
      }
      if (!entry || entry.operation !== 'PUT') return false;
      const stored = entry.json<Omit<NodeInfo, 'id'>>();
      const node: NodeInfo = { ...stored, id };
      if (node.incarnation !== incarnation || (node.state !== 'up' && node.state !== 'draining') || !(node.lastSeenAt < silentSince)) return false;
      await this.add(this.recorder.forDeadNode(node, detectedBy, this.clock.now()));
      try {
        await this.kv.update(key, JSON.stringify({ ...stored, state: 'dead' }), entry.revision);
        return true;
      } catch (err) {
        if (!isCasConflict(err)) throw storeError(err, `marking node ${id} dead`);
      }
    }
    return false;
  }
}

/** The record without the moved notifications; undefined when it lists none of them. */
function withoutNotifications({ doc }: Versioned, ids: ReadonlySet<string>): TaskDoc | undefined {
  const list = doc.outbox ?? [];
  const rest = list.filter((n) => !ids.has(n.id));
  if (rest.length === list.length) return undefined;
  const { outbox: _moved, ...next } = doc;
  return rest.length > 0 ? { ...next, outbox: rest } : next;
}
