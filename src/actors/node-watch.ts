import type { Logger } from '../ports/logger.ts';
import type { NodeRegistry } from '../ports/node-registry.ts';
import type { OutboxStore } from '../ports/outbox.ts';

type Store = Pick<NodeRegistry, 'listNodes'> & Pick<OutboxStore, 'markNodeDead'>;

/**
 * Records the death of every other node that stopped beaconing without saying it stopped (its
 * record `up` or `draining`, last seen over `deadAfterMs` ago), with its `node.dead`
 * notification. Every live node looks; the store lets exactly one record each death.
 */
export async function noticeDeadNodes(store: Store, self: { id: string }, now: number, deadAfterMs: number, log: Logger): Promise<void> {
  for (const node of await store.listNodes()) {
    if (node.id === self.id || (node.state !== 'up' && node.state !== 'draining') || now - node.lastSeenAt <= deadAfterMs) continue;
    if (await store.markNodeDead({ id: node.id, incarnation: node.incarnation, silentSince: now - deadAfterMs, detectedBy: self.id })) {
      log.warn({ deadNode: node.id, incarnation: node.incarnation, lastSeenAt: node.lastSeenAt }, 'node stopped beaconing; recorded it as dead');
    }
  }
}

/**
 * At start, before the first beacon replaces it: a previous incarnation of this node whose
 * record does not say it stopped died without stopping (kill -9, a crash, a power cut). Nobody
 * else may have noticed (the only node of an embedded store), so it is recorded here.
 */
export async function noticeDeadPredecessor(store: Store, self: { id: string; incarnation: string }, now: number, log: Logger): Promise<void> {
  const previous = (await store.listNodes()).find((n) => n.id === self.id);
  if (!previous || previous.incarnation === self.incarnation || (previous.state !== 'up' && previous.state !== 'draining')) return;
  if (await store.markNodeDead({ id: self.id, incarnation: previous.incarnation, silentSince: now + 1, detectedBy: self.id })) {
    log.warn({ incarnation: previous.incarnation, lastSeenAt: previous.lastSeenAt }, 'the previous incarnation of this node died without stopping; recorded it as dead');
  }
}
