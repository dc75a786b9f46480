import { readFileSync } from 'node:fs';
import type { ProcessControl, ProcessIdentity } from '../ports/process-control.ts';
import { killRunTree } from './kill-tree.ts';
import { isLiveStat, listPids, readProcStat } from './proc.ts';

/** ProcessControl on Linux's /proc, with the run-tree kill of `kill-tree.ts`. */
export function osProcessControl(options: { protectedPids: readonly number[]; log?: { warn(obj: object, msg: string): void } }): ProcessControl {
  return {
    identity(pid: number): ProcessIdentity | undefined {
      const stat = readProcStat(pid);
      return stat && isLiveStat(stat) ? { starttime: stat.starttime, pgrp: stat.pgrp, session: stat.session } : undefined;
    },
    findByRunId(runId: string): number[] {
      // Reading another user's environ fails (EACCES): such processes are not ours anyway.
      const marker = `REEVE_RUN_ID=${runId}`;
      return listPids().filter((pid) => {
        try {
          return readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(marker);
        } catch {
          return false;
        }
      });
    },
    async killTree(target) {
      const report = await killRunTree({ ...target, protectedPids: options.protectedPids, ...(options.log ? { log: options.log } : {}) });
      return { survivors: report.survivors };
    },
  };
}
