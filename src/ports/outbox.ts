import type { Notification, NotifyEvent } from '../protocol/notification.ts';

/**
 * The notification outbox: every event a person asked to hear about is written durably by the
 * same store write (SQLite transaction, KV compare-and-set) as the change that causes it, then
 * claimed with a lease by one delivering node, delivered at least once, and settled.
 */

export interface OutboxEntry {
  /** The notification's id: stable across retries, the receiver deduplicates on it. */
  id: string;
  /** The payload every sink receives, fixed when the event was recorded. */
  notification: Notification;
  state: 'pending' | 'failed';
  /** Failed delivery rounds so far. */
  attempts: number;
  /** Not claimable before this (epoch ms). */
  nextAttemptAt: number;
  lastError?: string;
  /** Keys of the sinks that already have it: a retry skips them. */
  delivered: string[];
  owner?: string;
  leaseExpiresAt?: number;
  /** Compare-and-set revision of the entry (bumped by every claim and settle). */
  revision: number;
  updatedAt: number;
}

/** What the store records from now on (the `notify` config's union of events). */
export interface NotifyRecording {
  /** Named in each payload's `node`: the node id, or the client (`reeve-cli`) that wrote. */
  node: string;
  /** Only these events get an outbox entry; none at all when empty (the default). */
  events: readonly NotifyEvent[];
}

export interface OutboxClaim {
  /** `nodeId:incarnation`, as for tasks. */
  owner: string;
  /** 1..1000 */
  limit: number;
  leaseTtlMs: number;
  /**
   * Entries held by an owner with this prefix (other than `owner`) are claimable at once, their
   * lease notwithstanding: a restarted node takes back what its earlier incarnations
   * (`<node id>:`) held when they died, as it does with tasks.
   */
  deadOwnerPrefix?: string;
}

interface SettleBase {
  id: string;
  owner: string;
  /** The revision the claim returned. */
  revision: number;
}

/**
 * How a delivery round ended: every sink has it (the entry leaves the outbox), some failed and it
 * is tried again at `nextAttemptAt`, or it is given up (kept as failed, shown by `reeve status`).
 */
export type OutboxSettle =
  | (SettleBase & { outcome: 'delivered' })
  | (SettleBase & { outcome: 'retry'; delivered: string[]; nextAttemptAt: number; error: string })
  | (SettleBase & { outcome: 'failed'; delivered: string[]; error: string });

export interface NotificationCounts {
  /** Waiting for delivery, retries included. */
  pending: number;
  /** Given up. */
  failed: number;
  /** The most recent delivery error of a pending or failed notification. */
  lastError?: { id: string; event: NotifyEvent; at: number; message: string };
}

export interface DeadNodeReport {
  id: string;
  incarnation: string;
  /** The record counts as silent when it was last seen before this. */
  silentSince: number;
  /** Who noticed (a node id), for the payload. */
  detectedBy: string;
}

export interface OutboxStore {
  /** Which events get an outbox entry from now on, and the node named in them. Synchronous: no I/O. */
  recordNotifications(recording: NotifyRecording): void;
  /**
   * Leases up to `limit` pending entries that are due (`nextAttemptAt <= now`) and unheld (or
   * whose lease expired), oldest first. Each entry is held by one owner at a time.
   */
  claimNotifications(claim: OutboxClaim): Promise<OutboxEntry[]>;
  /** Ends a claim. LEASE_LOST when the entry is no longer held by `owner` at `revision`. */
  settleNotification(settle: OutboxSettle): Promise<void>;
  notificationCounts(): Promise<NotificationCounts>;
  /**
   * Records that this incarnation of a node went silent (its record is `up` or `draining` and was
   * last seen before `silentSince`): its node record becomes `dead` and a `node.dead` notification
   * is written with it. False when there is nothing to record (another process did, it stopped
   * cleanly, it was seen since, or it is another incarnation now).
   */
  markNodeDead(report: DeadNodeReport): Promise<boolean>;
  /** Deletes failed entries last changed before `before` (and any leftovers of delivered ones). Returns how many. */
  purgeNotifications(before: number): Promise<number>;
}
