import { readFileSync } from 'node:fs';
import type { FullTask } from '../../src/ports/task-store.ts';
import { isTerminal } from '../../src/protocol/task-states.ts';
import { note, type Figures, type Findings } from './figures.ts';
import { markedProcesses, sleep } from './procs.ts';

/** Task id → how many runs the agents logged (lines "<task id> …" of the runs log). */
export function runsByTask(logFile: string): Map<string, number> {
  const runs = new Map<string, number>();
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return runs;
  }
  for (const line of text.split('\n')) {
    const id = line.split(' ')[0];
    if (id) runs.set(id, (runs.get(id) ?? 0) + 1);
  }
  return runs;
}

/** However much progress there is, a scenario stops waiting for its tasks after this long. */
const SETTLE_CAP_MS = 30 * 60_000;

/**
 * Polls `get` for every acknowledged id until each is terminal, or until no task has become
 * terminal for `stallMs` (a stuck task is then reported, not waited for), or SETTLE_CAP_MS has
 * passed. A backlog that drains slowly on a busy machine is waited out: the check is that every
 * task ends, not how fast. A read that throws (a failover) is "not yet". Returns the last
 * record of each id (undefined: none).
 */
export async function settle(ids: string[], get: (id: string) => Promise<FullTask | undefined>, stallMs: number): Promise<Map<string, FullTask | undefined>> {
  const last = new Map<string, FullTask | undefined>();
  const cap = Date.now() + SETTLE_CAP_MS;
  let progressAt = Date.now();
  let open = ids;
  for (;;) {
    const next: string[] = [];
    for (let i = 0; i < open.length; i += 64) {
      const batch = open.slice(i, i + 64);
      const got = await Promise.all(batch.map((id) => get(id).catch(() => last.get(id))));
      batch.forEach((id, j) => {
        last.set(id, got[j]);
        if (!got[j] || !isTerminal(got[j]!.state)) next.push(id);
      });
    }
    if (next.length < open.length) progressAt = Date.now();
    open = next;
    if (open.length === 0 || Date.now() - progressAt > stallMs || Date.now() > cap) return last;
    await sleep(500);
  }
}

/**
 * The task invariants: every acknowledged submission has a record (else lost), ends terminal,
 * and entered a terminal state exactly once (`succeeded` at most once in its history).
 */
export function checkTasks(records: Map<string, FullTask | undefined>, runs: Map<string, number>, findings: Findings): Partial<Figures> {
  const lost: string[] = [];
  const open: string[] = [];
  const doubles: string[] = [];
  let succeeded = 0;
  let failed = 0;
  let reruns = 0;
  for (const [id, task] of records) {
    reruns += Math.max(0, (runs.get(id) ?? 0) - 1);
    if (!task) {
      lost.push(id);
      continue;
    }
    if (!isTerminal(task.state)) open.push(`${id} (${task.state})`);
    else if (task.state === 'succeeded') succeeded++;
    else {
      failed++;
      // Allowed (a terminal state), but worth a look: the reason is the last history entry's.
      note(findings.scenario, `${id} (${task.kind}) ended ${task.state}: ${task.history.at(-1)?.reason ?? '?'}`);
    }
    const terminals = task.history.filter((h) => isTerminal(h.to));
    const successes = task.history.filter((h) => h.to === 'succeeded');
    if (terminals.length > 1 || successes.length > 1) doubles.push(`${id} (${terminals.map((h) => h.to).join(',')})`);
  }
  findings.count(lost.length, 'acknowledged submissions have no record (lost)', lost);
  findings.count(open.length, 'tasks did not reach a terminal state in time', open);
  findings.count(doubles.length, 'tasks have more than one completion record', doubles);
  return { submitted: records.size, succeeded, failed, lost: lost.length, notTerminal: open.length, doubleCompletions: doubles.length, reruns };
}

/** Agent processes of this run still alive (to be called two reap periods after the last run ended). */
export function checkSurvivors(role: string, findings: Findings): Partial<Figures> {
  const left = markedProcesses(role);
  findings.count(left.length, 'agent processes survived two reap periods', left.map((p) => `${p.pid} ${p.cmdline}`));
  return { survivors: left.length };
}
