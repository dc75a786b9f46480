import { leftoversOfRuns, type FinishedRun, type ProcStat } from './proc.ts';

/**
 * Looks for what finished runs left behind, many runs per /proc pass. A pass reads the stat of
 * every process on the host (~1-2 ms with 80 processes, more on a crowded host), too much to
 * pay once per run on a busy node: requests made within `delayMs` of each other share one pass.
 */
export class LeftoverSweep {
  #queue: Array<{ run: FinishedRun; resolve(left: ProcStat[]): void; reject(err: unknown): void }> = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(private readonly delayMs = 25) {}

  find(run: FinishedRun): Promise<ProcStat[]> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ run, resolve, reject });
      if (!this.#timer) this.#timer = setTimeout(() => this.#sweep(), this.delayMs);
    });
  }

  #sweep(): void {
    this.#timer = undefined;
    const batch = this.#queue.splice(0);
    try {
      const found = leftoversOfRuns(batch.map((b) => b.run));
      batch.forEach((b, i) => b.resolve(found[i]!));
    } catch (err) {
      for (const b of batch) b.reject(err);
    }
  }
}
