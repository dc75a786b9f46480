import { ErrorCode, ReeveError, toError } from '../errors.ts';
import type { TaskRecord } from '../protocol/task.ts';

/** DESIGN.md's exit codes. */
export const Exit = { Ok: 0, TaskNotSucceeded: 1, Usage: 2, NotFound: 3, Refused: 4, Unavailable: 5 } as const;

export function exitCodeFor(err: unknown): number {
  const code = (err as { code?: string }).code;
  switch (code) {
    case ErrorCode.InvalidInput:
    case ErrorCode.ConfigInvalid:
      return Exit.Usage;
    case ErrorCode.TaskNotFound:
    case ErrorCode.NotFound:
    case ErrorCode.NodeNotFound:
      return Exit.NotFound;
    case ErrorCode.TaskTerminal:
    case ErrorCode.InvalidTransition:
    case ErrorCode.LeaseLost:
    case ErrorCode.StoreConflict:
    case ErrorCode.Refused:
      return Exit.Refused;
    default:
      return Exit.Unavailable;
  }
}

export interface Io {
  out(text: string): void;
  err(text: string): void;
  isTTY: boolean;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
  isTTY: Boolean(process.stdout.isTTY),
};

/** With --json, stdout carries exactly one JSON value, errors included. */
export function reportError(io: Io, err: unknown, json: boolean): number {
  const e = toError(err);
  const code = e instanceof ReeveError ? e.code : ((e as { code?: string }).code ?? ErrorCode.Internal);
  if (json) io.out(JSON.stringify({ error: { code, message: e.message } }));
  else io.err(`reeve: ${e.message}`);
  return exitCodeFor(e);
}

/** `show --json` prints the contract's task record, no store-internal field. */
export { publicRecord } from '../protocol/public-record.ts';

export function table(rows: string[][], tty: boolean): string {
  if (rows.length === 0) return '';
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r, n) => {
      const line = r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ');
      return n === 0 && tty ? `\u001b[1m${line}\u001b[0m` : line;
    })
    .join('\n');
}

export function ago(at: number | undefined, now: number): string {
  if (at === undefined) return '-';
  const s = Math.round((now - at) / 1000);
  if (Math.abs(s) < 60) return s >= 0 ? `${s}s ago` : `in ${-s}s`;
  const m = Math.round(s / 60);
  if (Math.abs(m) < 60) return m >= 0 ? `${m}m ago` : `in ${-m}m`;
  const h = Math.round(m / 60);
  return h >= 0 ? `${h}h ago` : `in ${-h}h`;
}

/** What `reeve show` adds to a record: where the run log is, and what can be done next. */
export interface TaskExtras {
  /** The latest run log of the task on this machine, or a sentence saying where it would be. */
  runLog?: string;
  /** Commands the task's state allows (see next-actions.ts). */
  actions?: readonly string[];
}

/** Step outputs and progress are cut to this many characters of JSON in the human view. */
const SHOWN_CHARS = 160;

export function describeTask(task: TaskRecord, now: number, extras: TaskExtras = {}): string {
  const lines = [
    `task ${task.id}  (${task.kind})`,
    `state      ${task.state}${task.step ? `  step ${task.step}` : ''}`,
    `attempts   transient ${task.attempts.transient}  permanent ${task.attempts.permanent}  crashes ${task.attempts.crashes}`,
    `created    ${new Date(task.createdAt).toISOString()}  updated ${ago(task.updatedAt, now)}`,
  ];
  if (task.owner) lines.push(`owner      ${task.owner}  lease ${ago(task.leaseExpiresAt, now)}`);
  if (task.progress !== undefined) lines.push(`progress   ${cut(JSON.stringify(task.progress))}${task.heartbeatAt ? `  (${ago(task.heartbeatAt, now)})` : ''}`);
  // A record keeps its last error until it succeeds: on a task that is not failed or
  // quarantined it is an earlier attempt's (retried), not why the task is where it is.
  const errorLabel = task.state === 'failed' || task.state === 'quarantined' ? 'error     ' : 'last error';
  if (task.error) lines.push(`${errorLabel} [${task.error.class}${task.error.code ? ` ${task.error.code}` : ''}] ${task.error.message}`);
  if (task.result !== undefined) lines.push(`result     ${JSON.stringify(task.result)}`);
  if (extras.runLog) lines.push(`run log    ${extras.runLog}`);
  if (task.steps && task.steps.length > 1) {
    const width = Math.max(...task.steps.map((s) => s.name.length));
    lines.push('steps', ...task.steps.map((s) => `  ${s.name.padEnd(width)}  visits ${s.visits}${stepOutput(s)}`));
  }
  if (task.compensations.length) lines.push('compensations', ...task.compensations.map((c) => `  ${c.step}: ${c.status}${c.reason ? ` (${c.reason})` : ''}${c.error ? ` — ${c.error}` : ''}`));
  lines.push('history', ...task.history.map((h) => `  ${new Date(h.at).toISOString()}  ${h.from ?? '-'} → ${h.to}  ${h.reason}`));
  if (task.annotations.length) lines.push('annotations', ...task.annotations.map((a) => `  ${new Date(a.at).toISOString()}  ${a.author}: ${a.text}`));
  if (extras.actions?.length) lines.push('next', ...extras.actions.map((a) => `  ${a}`));
  return lines.join('\n');
}

function stepOutput(step: NonNullable<TaskRecord['steps']>[number]): string {
  if (step.output !== undefined) return `  output ${cut(JSON.stringify(step.output))}`;
  return step.outputExcerpt === undefined ? '' : `  output ${cut(step.outputExcerpt)}`;
}

const cut = (text: string): string => (text.length <= SHOWN_CHARS ? text : `${text.slice(0, SHOWN_CHARS - 1)}…`);
