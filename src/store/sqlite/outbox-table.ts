import type Database from 'better-sqlite3';
import { ErrorCode, ReeveError } from '../../errors.ts';
import type { Clock } from '../../ports/clock.ts';
import type { NodeInfo } from '../../ports/node-registry.ts';
import type { DeadNodeReport, NotificationCounts, OutboxClaim, OutboxEntry, OutboxSettle } from '../../ports/outbox.ts';
import type { Notification, NotifyEvent } from '../../protocol/notification.ts';
import { parseOrThrow } from '../../protocol/validate.ts';
import { deadNodeReportSchema, outboxClaimSchema, outboxSettleSchema, type NotificationRecorder } from '../notifications.ts';

interface OutboxRow {
  seq: number;
  id: string;
  event: NotifyEvent;
  payload: string;
  state: 'pending' | 'failed';
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  delivered: string;
  owner: string | null;
  lease_expires_at: number | null;
  updated_at: number;
  revision: number;
}

function toEntry(row: OutboxRow): OutboxEntry {
  const entry: OutboxEntry = {
    id: row.id,
    notification: JSON.parse(row.payload) as Notification,
    state: row.state,
    attempts: row.attempts,
    nextAttemptAt: row.next_attempt_at,
    delivered: JSON.parse(row.delivered) as string[],
    revision: row.revision,
    updatedAt: row.updated_at,
  };
  if (row.last_error !== null) entry.lastError = row.last_error;
  if (row.owner !== null) entry.owner = row.owner;
  if (row.lease_expires_at !== null) entry.leaseExpiresAt = row.lease_expires_at;
  return entry;
}

/**
 * The `notifications` table: the outbox of the embedded store. `write` runs inside the
 * caller's transaction (a task transition, a breaker write, a dead letter), so the event and
 * the change that causes it commit together or not at all. A delivered entry is deleted; a
 * given-up one stays as `failed` until purged.
 */
export class SqliteOutbox {
  readonly #insert;
  readonly #claimable;
  readonly #lease;
  readonly #get;
  readonly #delete;
  readonly #settle;
  readonly #counts;
  readonly #lastError;
  readonly #purge;
  readonly #node;
  readonly #markDead;

  constructor(
    private readonly db: Database.Database,
    private readonly clock: Clock,
    readonly recorder: NotificationRecorder,
  ) {
    this.#insert = db.prepare(`INSERT OR IGNORE INTO notifications (id, event, at, payload, state, next_attempt_at, updated_at)
      VALUES (@id, @event, @at, @payload, 'pending', @at, @at)`);
    this.#claimable = db.prepare<Record<string, unknown>, OutboxRow>(`SELECT * FROM notifications INDEXED BY notifications_due
      WHERE state = 'pending' AND next_attempt_at <= @now
        AND (owner IS NULL OR lease_expires_at <= @now OR (@prefix IS NOT NULL AND owner != @owner AND substr(owner, 1, length(@prefix)) = @prefix))
      ORDER BY next_attempt_at, seq LIMIT @limit`);
    this.#lease = db.prepare('UPDATE notifications SET owner = @owner, lease_expires_at = @expires, revision = revision + 1, updated_at = @now WHERE seq = @seq');
    this.#get = db.prepare<[string], OutboxRow>('SELECT * FROM notifications WHERE id = ?');
    this.#delete = db.prepare('DELETE FROM notifications WHERE seq = ?');
    this.#settle = db.prepare(`UPDATE notifications SET state = @state, attempts = attempts + 1, next_attempt_at = @next, last_error = @error,
      delivered = @delivered, owner = NULL, lease_expires_at = NULL, revision = revision + 1, updated_at = @now WHERE seq = @seq`);
    this.#counts = db.prepare<[], { state: string; n: number }>('SELECT state, COUNT(*) AS n FROM notifications GROUP BY state');
    this.#lastError = db.prepare<[], OutboxRow>('SELECT * FROM notifications WHERE last_error IS NOT NULL ORDER BY updated_at DESC, seq DESC LIMIT 1');
    this.#purge = db.prepare("DELETE FROM notifications WHERE state = 'failed' AND updated_at < ?");
    this.#node = db.prepare<[string], Record<string, unknown>>('SELECT * FROM nodes WHERE id = ?');
    this.#markDead = db.prepare("UPDATE nodes SET state = 'dead' WHERE id = ? AND incarnation = ?");
  }

  /** Inside the caller's transaction. `undefined`: nothing to record. */
  write(notification: Notification | undefined): void {
    if (notification === undefined) return;
    this.#insert.run({ id: notification.id, event: notification.event, at: notification.at, payload: JSON.stringify(notification) });
  }

  claim(request: OutboxClaim): OutboxEntry[] {
    const { owner, limit, leaseTtlMs, deadOwnerPrefix } = parseOrThrow(outboxClaimSchema, request, 'notification claim');
    const now = this.clock.now();
    return this.db.transaction(() =>
      this.#claimable.all({ now, limit, owner, prefix: deadOwnerPrefix ?? null }).map((row) => {
        const leased = { ...row, owner, lease_expires_at: now + leaseTtlMs, revision: row.revision + 1, updated_at: now };
        this.#lease.run({ seq: row.seq, owner, expires: leased.lease_expires_at, now });
        return toEntry(leased);
      }),
    ).immediate();
  }

  settle(request: OutboxSettle): void {
    const req = parseOrThrow(outboxSettleSchema, request, 'notification settle');
    const now = this.clock.now();
    this.db.transaction(() => {
      const row = this.#get.get(req.id);
      if (!row || row.owner !== req.owner || row.revision !== req.revision || row.state !== 'pending') throw notHeld(req.id, req.owner);
      if (req.outcome === 'delivered') return this.#delete.run(row.seq);
      return this.#settle.run({
        seq: row.seq,
        state: req.outcome === 'retry' ? 'pending' : 'failed',
        next: req.outcome === 'retry' ? req.nextAttemptAt : row.next_attempt_at,
        error: req.error,
        delivered: JSON.stringify(req.delivered),
        now,
      });
    }).immediate();
  }

  counts(): NotificationCounts {
    const counts: NotificationCounts = { pending: 0, failed: 0 };
    for (const { state, n } of this.#counts.all()) if (state === 'pending' || state === 'failed') counts[state] = n;
    const last = this.#lastError.get();
    if (last) counts.lastError = { id: last.id, event: last.event, at: last.updated_at, message: last.last_error! };
    return counts;
  }

  markNodeDead(report: DeadNodeReport, toNode: (row: Record<string, unknown>) => NodeInfo): boolean {
    const { id, incarnation, silentSince, detectedBy } = parseOrThrow(deadNodeReportSchema, report, 'dead node report');
    const now = this.clock.now();
    return this.db.transaction(() => {
      const row = this.#node.get(id);
      if (!row) return false;
      const node = toNode(row);
      if (node.incarnation !== incarnation || (node.state !== 'up' && node.state !== 'draining') || node.lastSeenAt >= silentSince) return false;
      this.#markDead.run(id, incarnation);
      this.write(this.recorder.forDeadNode(node, detectedBy, now));
      return true;
    }).immediate();
  }

  purge(before: number): number {
    return this.#purge.run(before).changes;
  }
}

function notHeld(id: string, owner: string): ReeveError {
  return new ReeveError(ErrorCode.LeaseLost, `notification ${id} is no longer held by ${owner} (delivered, given up, or claimed by another node after its lease expired); leave it`, {
    data: { notificationId: id, owner },
  });
}
