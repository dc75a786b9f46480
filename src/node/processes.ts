import { join } from 'node:path';
import { reapOrphans, type ReapReport } from '../actors/reaper.ts';
import type { Clock } from '../ports/clock.ts';
import type { Logger } from '../ports/logger.ts';
import type { ProcessRegistry } from '../ports/process-registry.ts';
import { osProcessControl } from '../pool/os-process-control.ts';
import { SqliteProcessRegistry } from '../store/sqlite/process-registry.ts';

/** The host's record of the processes runs started (one SQLite file per data dir, kept across restarts). */
export function openProcessRegistry(dataDir: string, clock: Clock): SqliteProcessRegistry {
  return new SqliteProcessRegistry(join(dataDir, 'processes.db'), clock);
}

/**
 * One pass of the reaper over `registry`: a node's reaper loop and `reeve reap` in another
 * process run the same one. Every incarnation not in `liveOwners` is an orphan.
 */
export function reapOnce(
  registry: ProcessRegistry,
  options: { protectedPids: readonly number[]; liveOwners: ReadonlySet<string>; log: Logger; dryRun?: boolean },
): Promise<ReapReport> {
  return reapOrphans({
    registry,
    control: osProcessControl({ protectedPids: options.protectedPids }),
    liveOwners: options.liveOwners,
    protectedPids: new Set(options.protectedPids),
    graceMs: 2_000,
    ...(options.dryRun === undefined ? {} : { dryRun: options.dryRun }),
    log: options.log,
  });
}
