/** Small helpers every peer shares. */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

export const perSecond = (count, ms) => Math.round((count / ms) * 1000);

/** Resident set size of a process in KB, from /proc (0 once it is gone). */
export function rssKb(pid = process.pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Polls `check` (async, truthy when done) every `everyMs` until `timeoutMs`. */
export async function waitFor(what, check, { timeoutMs = 300_000, everyMs = 250 } = {}) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** p50 and p99 of a list of delays in ms. */
export function percentiles(delays) {
  const s = [...delays].sort((a, b) => a - b);
  const at = (q) => Math.round(s[Math.min(s.length - 1, Math.floor(s.length * q))] * 10) / 10;
  return { p50: at(0.5), p99: at(0.99), count: s.length };
}

/** Throughput from records: the first start to the last finish. */
export function spanRate(starts, ends, count) {
  const first = Math.min(...starts);
  const last = Math.max(...ends);
  return { value: perSecond(count, last - first), ms: last - first };
}

/**
 * Calls `submitOne(i)` at a fixed rate (`rate`/s) for `count` tasks, in ticks of 10 ms with the
 * schedule kept against drift; resolves once all are submitted.
 */
export async function paced(count, rate, submitOne) {
  const start = performance.now();
  const pending = [];
  let i = 0;
  while (i < count) {
    const due = Math.min(count, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
    for (; i < due; i++) pending.push(submitOne(i));
    await sleep(10);
  }
  await Promise.all(pending);
}

/** The module text of the agents every peer runs, as files where a peer needs a file. */
export const SLEEP_BODY = 'await new Promise((r) => setTimeout(r, ms));';
