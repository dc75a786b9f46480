import { readdirSync, readFileSync } from 'node:fs';

/**
 * Linux process facts read from /proc, for the process-tree kill and (later) idle detection.
 *
 * Everything here is synchronous on purpose: a /proc read never touches a disk, and a kill
 * decision made from two reads separated by an `await` would widen the window in which a pid
 * can die and be reused (pid_max is often only 32768).
 *
 * Costs: `readProcStat` is one open+read+close of a ~300-byte file (a few µs).
 * `listPids` is one readdir of /proc. `processesIn` reads the stat of every process on the
 * host (≈ 10 µs each, so ~5 ms for 500 processes); call it per poll, not per process.
 */

/** One line of `/proc/<pid>/stat`, reduced to the fields Reeve uses. */
export interface ProcStat {
  pid: number;
  /** The executable's name as the kernel keeps it (at most 15 bytes; may contain spaces and parentheses). */
  comm: string;
  /** `R` running, `S` sleeping, `D` uninterruptible, `Z` zombie, `T` stopped, `X` dead, … */
  state: string;
  ppid: number;
  pgrp: number;
  session: number;
  /** Start time in clock ticks since boot; with `pid`, the identity of a process across pid reuse. */
  starttime: number;
  /** CPU time in user mode, clock ticks (children not included). */
  utime: number;
  /** CPU time in kernel mode, clock ticks (children not included). */
  stime: number;
}

/**
 * Parses the text of `/proc/<pid>/stat`. The comm field is in parentheses but may itself contain
 * spaces and `)`, so the fixed fields start after the LAST `)`.
 * Throws on text that is not a stat line (the kernel never produces one; a bug upstream does).
 */
export function parseProcStat(text: string): ProcStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  const fields = close > open && open > 0 ? text.slice(close + 1).trim().split(/\s+/) : [];
  // After comm: [0]=state [1]=ppid [2]=pgrp [3]=session … [11]=utime [12]=stime … [19]=starttime
  if (fields.length < 20) throw new Error(`not a /proc/<pid>/stat line: ${JSON.stringify(text.slice(0, 120))}`);
  const int = (i: number) => {
    const value = Number(fields[i]);
    if (!Number.isSafeInteger(value)) throw new Error(`/proc stat field ${i + 3} is not an integer: ${JSON.stringify(fields[i])}`);
    return value;
  };
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: fields[0]!,
    ppid: int(1),
    pgrp: int(2),
    session: int(3),
    utime: int(11),
    stime: int(12),
    starttime: int(19),
  };
}

const GONE = new Set(['ENOENT', 'ESRCH', 'ENOTDIR']);

/** Reads `/proc/<pid>/stat`; `undefined` when the process does not exist (any more). */
export function readProcStat(pid: number): ProcStat | undefined {
  if (!Number.isSafeInteger(pid) || pid <= 0) return undefined;
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (err) {
    // A process that exits between readdir and read, or while being read, gives ENOENT or ESRCH.
    if (GONE.has((err as NodeJS.ErrnoException).code ?? '')) return undefined;
    throw err;
  }
  return parseProcStat(text);
}

/**
 * The value of one variable in `/proc/<pid>/environ` (the environment the process was exec'd
 * with; a later setenv() does not change it): `undefined` when the variable is absent or the
 * process is gone, `null` when the environment cannot be read (another user's process, or one
 * that made itself non-dumpable, as ssh does).
 */
export function readEnvVar(pid: number, name: string): string | null | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch (err) {
    return GONE.has((err as NodeJS.ErrnoException).code ?? '') ? undefined : null;
  }
  const prefix = `${name}=`;
  for (const entry of text.split('\0')) if (entry.startsWith(prefix)) return entry.slice(prefix.length);
  return undefined;
}

/** The pids of all processes visible in /proc (threads are not listed), in ascending order. */
export function listPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (/^\d+$/.test(name)) pids.push(Number(name));
  }
  return pids.sort((a, b) => a - b);
}

/** Whether a stat describes a process that can still run: zombies (`Z`) and `X` are dead. */
export function isLiveStat(stat: ProcStat): boolean {
  return stat.state !== 'Z' && stat.state !== 'X';
}

/**
 * Whether `pid` is a live process. False when it is missing, a zombie, or, when `starttime` is
 * given, a different process that reused the pid.
 */
export function isAlive(pid: number, starttime?: number): boolean {
  const stat = readProcStat(pid);
  if (stat === undefined || !isLiveStat(stat)) return false;
  return starttime === undefined || stat.starttime === starttime;
}

/** Which processes `processesIn` selects; a process matching any criterion is selected. */
export interface ProcessQuery {
  /** Members of this process group. Ignored unless > 0 (group 0 holds kernel threads). */
  pgid?: number | undefined;
  /** Members of this session. Ignored unless > 0. */
  sid?: number | undefined;
  /** These pids themselves and every process descending from them through ppid links. */
  ancestors?: readonly number[] | undefined;
}

/** Every live (non-zombie) process on the host, in ascending pid order: one stat read each. */
export function liveProcesses(): ProcStat[] {
  const live: ProcStat[] = [];
  for (const pid of listPids()) {
    const stat = readProcStat(pid);
    if (stat !== undefined && isLiveStat(stat)) live.push(stat);
  }
  return live;
}

/**
 * All live, non-zombie processes that match `query`, in ascending pid order. Reads the stat of
 * every process on the host once (see the costs above). A descendant whose parent chain was
 * broken by an exit (it was reparented to init or a subreaper) is no longer found by
 * `ancestors`: callers that must follow escapees keep their own record of pids seen earlier.
 */
export function processesIn(query: ProcessQuery): ProcStat[] {
  return selectProcesses(liveProcesses(), query);
}

/** `processesIn` over an already-read list of live processes (one /proc pass for many queries). */
export function selectProcesses(live: readonly ProcStat[], query: ProcessQuery): ProcStat[] {
  const { pgid, sid } = query;
  const selected = new Map<number, ProcStat>();
  for (const stat of live) {
    if ((pgid !== undefined && pgid > 0 && stat.pgrp === pgid) || (sid !== undefined && sid > 0 && stat.session === sid)) {
      selected.set(stat.pid, stat);
    }
  }
  const roots = (query.ancestors ?? []).filter((pid) => pid > 0);
  if (roots.length > 0) {
    const byPid = new Map(live.map((s) => [s.pid, s]));
    const children = new Map<number, ProcStat[]>();
    for (const stat of live) {
      const siblings = children.get(stat.ppid);
      if (siblings) siblings.push(stat);
      else children.set(stat.ppid, [stat]);
    }
    const queue = roots.flatMap((pid) => byPid.get(pid) ?? []);
    const seen = new Set<number>();
    for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
      if (seen.has(next.pid)) continue;
      seen.add(next.pid);
      selected.set(next.pid, next);
      queue.push(...(children.get(next.pid) ?? []));
    }
  }
  return [...selected.values()].sort((a, b) => a.pid - b.pid);
}

/**
 * Sum of user and system CPU ticks of the given pids (missing ones count 0). Exited children
 * that were reaped are not included, so a caller comparing two samples should sample the same
 * live set; growth means some process of the set used CPU.
 */
export function cpuTicksOf(pids: Iterable<number>): number {
  let ticks = 0;
  for (const pid of pids) {
    const stat = readProcStat(pid);
    if (stat !== undefined) ticks += stat.utime + stat.stime;
  }
  return ticks;
}
