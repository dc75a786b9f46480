import { runMembers, type RunIdentity, type RunMembers } from '../platform/run-members.ts';
import { snapshotProcesses } from './os-process-control.ts';

/**
 * The processes of each run, judged by the reaper's rules (`runMembers`: the marker, a group or
 * session vouched for by a live process of the run, ppid from a proven process; never another
 * run's marker) from one /proc pass. Environments are read only for processes started no
 * earlier than the oldest root, which on a steady host are few.
 */
export function membersOfRuns(runs: readonly RunIdentity[]): RunMembers[] {
  if (runs.length === 0) return [];
  const starts = runs.map((r) => r.starttime);
  const markersFrom = starts.every((s) => s !== undefined) ? Math.min(...(starts as number[])) : undefined;
  const snapshot = snapshotProcesses(markersFrom);
  return runs.map((run) => runMembers(run, snapshot));
}

/**
 * Looks for what finished runs left behind, many runs per /proc pass. A pass reads the stat of
 * every process on the host (~1-2 ms with 80 processes, more on a crowded host), too much to
 * pay once per run on a busy node: requests made within `delayMs` of each other share one pass.
 */
export class LeftoverSweep {
  #queue: Array<{ run: RunIdentity; resolve(found: RunMembers): void; reject(err: unknown): void }> = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly delayMs = 25) {}

  find(run: RunIdentity): Promise<RunMembers> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ run, resolve, reject });
      if (!this.#timer) this.#timer = setTimeout(() => this.#sweep(), this.delayMs);
    });
  }

  #sweep(): void {
    this.#timer = undefined;
    const batch = this.#queue.splice(0);
    try {
      const found = membersOfRuns(batch.map((b) => b.run));
      batch.forEach((b, i) => b.resolve(found[i]!));
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }
}
