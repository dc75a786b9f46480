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

export function describeTask(task: TaskRecord, now: number): string {
  const lines = [
    `task ${task.id}  (${task.kind})`,
    `state      ${task.state}${task.step ? `  step ${task.step}` : ''}`,
    `attempts   transient ${task.attempts.transient}  permanent ${task.attempts.permanent}  crashes ${task.attempts.crashes}`,
    `created    ${new Date(task.createdAt).toISOString()}  updated ${ago(task.updatedAt, now)}`,
  ];
  if (task.owner) lines.push(`owner      ${task.owner}  lease ${ago(task.leaseExpiresAt, now)}`);
  if (task.error) lines.push(`error      [${task.error.class}${task.error.code ? ` ${task.error.code}` : ''}] ${task.error.message}`);
  if (task.result !== undefined) lines.push(`result     ${JSON.stringify(task.result)}`);
  if (task.compensations.length) lines.push('compensations', ...task.compensations.map((c) => `  ${c.step}: ${c.status}${c.reason ? ` (${c.reason})` : ''}${c.error ? ` — ${c.error}` : ''}`));
  lines.push('history', ...task.history.map((h) => `  ${new Date(h.at).toISOString()}  ${h.from ?? '-'} → ${h.to}  ${h.reason}`));
  if (task.annotations.length) lines.push('annotations', ...task.annotations.map((a) => `  ${new Date(a.at).toISOString()}  ${a.author}: ${a.text}`));
  return lines.join('\n');
}
