import { initialTransition, transition, type SnapshotFrom } from 'xstate';
import { ErrorCode, toError } from '../errors.ts';
import { circuitBreakerMachine, type BreakerEvent, type BreakerSettings } from '../machines/circuit-breaker.ts';
import type { Clock } from '../ports/clock.ts';
import type { BreakerRecord, GateStore } from '../ports/gate-store.ts';
import type { InspectedEvent, Inspection } from '../ports/inspection.ts';
import type { Logger } from '../ports/logger.ts';

type BreakerSnapshot = SnapshotFrom<typeof circuitBreakerMachine>;
type BreakerState = BreakerSnapshot['value'];
export type AttemptVerdict = 'succeeded' | 'transient' | 'permanent';

export interface BreakerGates {
  /** Keys whose tasks must not be claimed. */
  blocked: string[];
  /** Keys whose breaker admits one probe now (half-open, or open with the pause over). */
  probeable: string[];
}

/**
 * The node's view of every circuit breaker, kept in the store so all processes (and, with the
 * NATS store, all nodes) share it. Every change is a compare-and-set of the breaker machine's
 * snapshot, so exactly one claimer wins the half-open probe.
 */
export class BreakerBoard {
  #records = new Map<string, BreakerRecord>();
  /** State changes made by this node, per key and target state (for logs and metrics). */
  readonly changes = new Map<string, number>();

  constructor(
    private readonly deps: {
      store: GateStore;
      clock: Clock;
      log: Logger;
      /** A state change this node made (and won the compare-and-set for): announce it. */
      onChange?(change: { key: string; from: BreakerState; to: BreakerState; openUntil?: number; at: number }): void;
      /** Live state for the inspector: each breaker as actor `breaker:<key>` under `parentId()`. */
      inspect?: { port: Inspection; parentId(): string | undefined };
    },
  ) {}

  /** Keys already shown to the inspector as actors. */
  #shown = new Set<string>();

  #readAt = Number.NEGATIVE_INFINITY;
  /** Changes this node wrote (see refresh). */
  #writes = 0;
  #invalidated = true;

  /** Reads every breaker from the store. */
  async refresh(): Promise<void> {
    const readAt = this.deps.clock.now();
    const writesBefore = this.#writes;
    this.#invalidated = false;
    const read = new Map((await this.deps.store.listBreakers()).map((r) => [r.key, r]));
    // A change this node wrote while the listing was on its way may be newer than what it read.
    if (this.#writes !== writesBefore) {
      for (const [key, mine] of this.#records) if (mine.revision > (read.get(key)?.revision ?? 0)) read.set(key, mine);
    }
    if (this.deps.inspect?.port.isOn) this.#inspectRead(read);
    this.#records = read;
    this.#readAt = readAt;
  }

  /** Breakers first seen, or changed by another process since the last read. */
  #inspectRead(read: Map<string, BreakerRecord>): void {
    for (const [key, record] of read) {
      const snapshot = restore(record.snapshot);
      if (!snapshot) continue;
      if (!this.#shown.has(key)) this.#inspect(key, snapshot);
      else if (this.#records.get(key)?.revision !== record.revision) this.#inspect(key, snapshot, { type: 'breaker.read', revision: record.revision });
    }
  }

  /** Without `event`: registers the breaker's actor; with it: the event it took and its snapshot. */
  #inspect(key: string, snapshot: BreakerSnapshot, event?: InspectedEvent): void {
    const inspect = this.deps.inspect;
    if (!inspect?.port.isOn) return;
    const sessionId = `breaker:${key}`;
    const inspected = { status: 'active' as const, value: snapshot.value, context: snapshot.context };
    if (!event) {
      this.#shown.add(key);
      inspect.port.actor(sessionId, inspect.parentId(), inspected, circuitBreakerMachine);
    } else inspect.port.step(sessionId, event, inspected, typeof event.taskId === 'string' ? { sessionId: `task:${event.taskId}` } : undefined);
  }

  /**
   * Reads the breakers again only when the view is older than `maxAgeMs` or was invalidated
   * (another node announced a change). The dispatcher asks before every claim round, which
   * with one round per finished run made a KV listing per task; this node's own changes are
   * in the view as soon as they are written.
   */
  async refreshIfStale(maxAgeMs: number): Promise<void> {
    if (this.#invalidated || this.deps.clock.now() - this.#readAt >= maxAgeMs) await this.refresh();
  }

  /** Another process changed a breaker: the next refreshIfStale reads the store. */
  invalidate(): void {
    this.#invalidated = true;
  }

  gates(now = this.deps.clock.now()): BreakerGates {
    const gates: BreakerGates = { blocked: [], probeable: [] };
    for (const record of this.#records.values()) {
      const snapshot = restore(record.snapshot);
      // A snapshot that is not one (written by hand): its recorded state decides, and the next
      // report on the key writes a sound one.
      const value = snapshot?.value ?? record.state;
      if (value === 'open') (record.openUntil !== undefined && now >= record.openUntil ? gates.probeable : gates.blocked).push(record.key);
      else if (value === 'halfOpen') (snapshot?.context.probe === undefined ? gates.probeable : gates.blocked).push(record.key);
    }
    return gates;
  }

  /** When the key's current (or last) pause ends or ended; undefined for a breaker never opened. */
  openUntil(key: string): number | undefined {
    const record = this.#records.get(key);
    return record?.openUntil ?? restore(record?.snapshot)?.context.openUntil;
  }

  /** Tries to make `taskId` the key's one half-open probe. */
  async takeProbe(key: string, taskId: string, settings: BreakerSettings): Promise<boolean> {
    const now = this.deps.clock.now();
    const after = await this.#update(key, settings, [{ type: 'time.tick', now }, { type: 'probe.take', now, taskId }]);
    return after?.value === 'halfOpen' && after.context.probe === taskId;
  }

  async releaseProbe(key: string, taskId: string, settings: BreakerSettings): Promise<void> {
    if (this.#records.get(key) === undefined) return;
    await this.#update(key, settings, [{ type: 'probe.release', now: this.deps.clock.now(), taskId }]).catch((err: unknown) =>
      this.deps.log.error({ err: toError(err), key }, 'breaker probe release failed'),
    );
  }

  /** Feeds an attempt's verdict to the task's breaker. Never throws: gating must not fail a task. */
  async report(key: string, taskId: string, verdict: AttemptVerdict, settings: BreakerSettings): Promise<void> {
    // No record and a success: nothing to say (keeps the happy path free of writes).
    if (verdict === 'succeeded' && !this.#records.has(key)) return;
    const now = this.deps.clock.now();
    const event: BreakerEvent = verdict === 'succeeded' ? { type: 'attempt.succeeded', now, taskId, settings } : { type: 'attempt.failed', now, taskId, transient: verdict === 'transient', settings };
    await this.#update(key, settings, [event]).catch((err: unknown) => this.deps.log.error({ err: toError(err), key }, 'breaker update failed'));
  }

  async #update(key: string, settings: BreakerSettings, events: BreakerEvent[]): Promise<BreakerSnapshot | undefined> {
    for (let attempt = 0; attempt < 10; attempt++) {
      const record = this.#records.get(key);
      const before = (record && restore(record.snapshot)) || initialTransition(circuitBreakerMachine, { key, settings })[0];
      let after = before;
      const steps: Array<[BreakerEvent, BreakerSnapshot]> = [];
      for (const event of events) {
        after = transition(circuitBreakerMachine, after, event)[0];
        steps.push([event, after]);
      }
      const persisted = circuitBreakerMachine.getPersistedSnapshot(after);
      if (record && JSON.stringify(persisted) === JSON.stringify(record.snapshot)) return after;
      if (!record && after.value === 'closed' && after.context.failures === 0) return after;
      try {
        const openUntil = after.context.openUntil;
        const next = { key, state: after.value, snapshot: persisted, ...(openUntil === undefined ? {} : { openUntil }) };
        const revision = await this.deps.store.putBreaker(next, record?.revision ?? 0);
        this.#records.set(key, { ...next, revision, updatedAt: this.deps.clock.now() });
        this.#writes++;
        if (!this.#shown.has(key)) this.#inspect(key, before);
        for (const [event, snapshot] of steps) this.#inspect(key, snapshot, event);
        if (after.value !== before.value) {
          const counter = `${key}:${after.value}`;
          this.changes.set(counter, (this.changes.get(counter) ?? 0) + 1);
          this.deps.log.warn({ key, from: before.value, to: after.value, openUntil, times: this.changes.get(counter) }, `breaker ${after.value}`);
          this.deps.onChange?.({ key, from: before.value, to: after.value, ...(openUntil === undefined ? {} : { openUntil }), at: this.deps.clock.now() });
        }
        return after;
      } catch (err) {
        if ((err as { code?: string }).code !== ErrorCode.StoreConflict) throw err;
        await this.refresh();
      }
    }
    throw new Error(`breaker ${key}: too many concurrent updates`);
  }
}

const BREAKER_STATES: ReadonlySet<unknown> = new Set(['closed', 'open', 'halfOpen']);

/** The breaker's snapshot, or undefined when the stored one is not a breaker snapshot. */
function restore(persisted: unknown): BreakerSnapshot | undefined {
  try {
    const snapshot = circuitBreakerMachine.resolveState(persisted as Parameters<typeof circuitBreakerMachine.resolveState>[0]);
    return BREAKER_STATES.has(snapshot.value) && typeof snapshot.context === 'object' && snapshot.context !== null ? snapshot : undefined;
  } catch {
    return undefined;
  }
}
