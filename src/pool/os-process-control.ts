import type { ProcessControl, ProcessEntry } from '../ports/process-control.ts';
import { killRunTree } from './kill-tree.ts';
import { isLiveStat, listPids, readEnvVar, readProcStat } from './proc.ts';

/** ProcessControl on Linux's /proc, with the run-tree kill of `kill-tree.ts`. */
export function osProcessControl(options: { protectedPids: readonly number[]; log?: { warn(obj: object, msg: string): void } }): ProcessControl {
  return {
    snapshot(): ProcessEntry[] {
      const entries: ProcessEntry[] = [];
      for (const pid of listPids()) {
        const stat = readProcStat(pid);
        if (stat === undefined || !isLiveStat(stat)) continue;
        const { ppid, pgrp, session, starttime } = stat;
        entries.push({ pid, ppid, pgrp, session, starttime, runId: readEnvVar(pid, 'REEVE_RUN_ID') });
      }
      return entries;
    },
    async killTree(target) {
      const report = await killRunTree({ ...target, protectedPids: options.protectedPids, ...(options.log ? { log: options.log } : {}) });
      return { survivors: report.survivors };
    },
  };
}
