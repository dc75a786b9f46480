import { readFileSync } from 'node:fs';

let cached: string | undefined | null = null;

/**
 * The kernel's random id of this boot (`/proc/sys/kernel/random/boot_id`), or `undefined`
 * where there is none. Pids, process groups and start times (clock ticks since boot) are only
 * comparable within one boot, so every process-registry row carries the boot it was written in.
 * Read once per process: it cannot change while we run.
 */
export function readBootId(): string | undefined {
  if (cached === null) {
    try {
      cached = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || undefined;
    } catch {
      cached = undefined;
    }
  }
  return cached;
}
