import { hostname } from 'node:os';
import type { ReapReport } from '../actors/reaper.ts';
import type { Config } from '../config/schema.ts';
import { openProcessRegistry, reapOnce } from '../node/processes.ts';
import type { NodeRegistry } from '../ports/node-registry.ts';
import { silentLogger } from '../ports/logger.ts';
import { systemClock } from '../platform/system-clock.ts';
import { DEAD_AFTER_MS } from '../views/status-report.ts';

/**
 * `reeve reap`: the same reaper a node runs, from another process. Incarnations of nodes that
 * are up on this host are alive; every other row is an orphan.
 */
export async function reapFromCli(store: NodeRegistry, config: Config, dryRun: boolean): Promise<ReapReport> {
  const now = systemClock.now();
  const live = new Set(
    (await store.listNodes())
      .filter((n) => n.host === hostname() && n.state !== 'stopped' && now - n.lastSeenAt <= DEAD_AFTER_MS)
      .map((n) => `${n.id}:${n.incarnation}`),
  );
  const registry = openProcessRegistry(config.node.dataDir, systemClock);
  try {
    return await reapOnce(registry, { protectedPids: config.node.protectedPids, liveOwners: live, dryRun, log: silentLogger });
  } finally {
    await registry.close();
  }
}
