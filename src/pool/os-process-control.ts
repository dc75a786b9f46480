import { readBootId } from '../platform/boot-id.ts';
import type { ProcessControl, ProcessEntry } from '../ports/process-control.ts';
import { killRunTrees } from './kill-tree.ts';
import { isLiveStat, listPids, readEnvVar, readProcStat } from './proc.ts';

/** ProcessControl on Linux's /proc, with the run-tree kill of `kill-tree.ts`. */
export function osProcessControl(options: { protectedPids: readonly number[]; log?: { warn(obj: object, msg: string): void } }): ProcessControl {
  return {
    snapshot: () => snapshotProcesses(),
    async killTrees(targets, graceMs) {
      const reports = await killRunTrees(targets, { graceMs, protectedPids: options.protectedPids, ...(options.log ? { log: options.log } : {}) });
      return reports.map((r) => ({ survivors: r.survivors }));
    },
    bootId: readBootId,
  };
}

/**
 * Every live process with its REEVE_RUN_ID. Reading an environment costs ~20 µs, so with
 * `markersFrom` (a start time) only processes started then or later have theirs read: an older
 * one cannot belong to a run started at or after that time (its `runId` is left `undefined`).
 */
export function snapshotProcesses(markersFrom?: number): ProcessEntry[] {
  const entries: ProcessEntry[] = [];
  for (const pid of listPids()) {
    const stat = readProcStat(pid);
    if (stat === undefined || !isLiveStat(stat)) continue;
    const { ppid, pgrp, session, starttime } = stat;
    const runId = markersFrom === undefined || starttime >= markersFrom ? readEnvVar(pid, 'REEVE_RUN_ID') : undefined;
    entries.push({ pid, ppid, pgrp, session, starttime, runId });
  }
  return entries;
}
