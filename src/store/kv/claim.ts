import type { StoredTask } from '../../ports/task-store.ts';
import type { ParsedClaim } from '../request-schemas.ts';
import { decodeDoc, isClaimable, toStored, type ClaimFilter } from './codec.ts';
import type { TaskKeys } from './task-keys.ts';
import { claimDoc } from './transitions.ts';

/**
 * Claim on KV: the index proposes candidates in claim order, and each one is won by a
 * compare-and-set of its task key, so two claimers (this instance or any other connection)
 * never both win a task.
 *
 * Per round, up to `limit - won` candidates are tried in parallel: a fresh `get` of each
 * (the index may be behind another node's writes), the claimability check on that fresh
 * record, then `kv.update(key, leased, revisionRead)`. A candidate that is gone, no longer
 * claimable, or whose CAS loses is skipped; the next round asks the index for more, never
 * retrying an id this call already tried. Candidates another claim call of this instance is
 * trying right now are skipped too (`inflight`), so parallel calls of one instance spread
 * over different tasks instead of racing each other. Cost: 1 round trip per task claimed when
 * the index holds the task's stored value (it does for every claimable task it has seen
 * through its watch or this instance's writes: the CAS on that revision is the check), else 2
 * (get + CAS); pipelined across the batch; a lost race costs a get and maybe a second CAS.
 */
export class KvClaimer {
  readonly #inflight = new Set<string>();

  constructor(private readonly keys: TaskKeys) {}

  async claim(req: ParsedClaim, now: number): Promise<StoredTask[]> {
    if ((req.kinds !== undefined && req.kinds.length === 0) || (req.breakerKeys !== undefined && req.breakerKeys.length === 0)) return [];
    await this.keys.index.ready();
    const filter: ClaimFilter = {
      now,
      excludeBreakerKeys: new Set(req.excludeBreakerKeys ?? []),
      kinds: req.kinds && new Set(req.kinds),
      breakerKeys: req.breakerKeys && new Set(req.breakerKeys),
    };
    const won: StoredTask[] = [];
    const tried = new Set<string>();
    const skip = (id: string): boolean => tried.has(id) || this.#inflight.has(id);
    while (won.length < req.limit) {
      const batch = this.keys.index.candidates(filter, req.limit - won.length, skip);
      if (batch.length === 0) break;
      for (const { id } of batch) {
        tried.add(id);
        this.#inflight.add(id);
      }
      const results = await Promise.allSettled(
        batch.map(({ id }) =>
          this.#tryClaim(id, req, filter).finally(() => {
            this.#inflight.delete(id);
          }),
        ),
      );
      // Tasks won before a failure are returned (dropping them would strand their leases until
      // they expire); the failure is thrown only when nothing was won.
      const failed = results.find((r) => r.status === 'rejected');
      for (const r of results) if (r.status === 'fulfilled' && r.value) won.push(r.value);
      if (failed) {
        if (won.length === 0) throw failed.reason;
        break;
      }
    }
    return won;
  }

  async #tryClaim(id: string, req: ParsedClaim, filter: ClaimFilter): Promise<StoredTask | undefined> {
    // The index holds the stored bytes of claimable tasks (its watch and this instance's own
    // writes deliver them): the CAS on that revision succeeds only if the task is still exactly
    // that record, so no read is needed. Lost (another claimer, or a change the index has not
    // seen yet): decided again on a fresh read below, as without the cache.
    const cached = this.keys.index.claimable(id);
    if (cached) {
      const doc = decodeDoc(id, cached.value, cached.revision);
      if (isClaimable(doc, filter)) {
        const next = claimDoc(doc, req.owner, req.leaseTtlMs, filter.now);
        const revision = await this.keys.write(next, cached.revision);
        if (revision !== undefined) return { ...toStored(next, revision), from: doc.state };
      }
    }
    const current = await this.keys.read(id);
    if (!current || !isClaimable(current.doc, filter)) return undefined;
    const next = claimDoc(current.doc, req.owner, req.leaseTtlMs, filter.now);
    const revision = await this.keys.write(next, current.revision);
    return revision === undefined ? undefined : { ...toStored(next, revision), from: current.doc.state };
  }
}
