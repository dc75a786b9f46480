import type { TaskRecord } from '../protocol/task.ts';

/**
 * What an operator can do next with a task in its state, as commands to run (`reeve show`, and
 * `submit --wait` when the task starts waiting). `reeve` is how the commands are written; `global`
 * carries the options the current command was given (`--config FILE`) so they run as printed.
 */
export function nextActions(task: Pick<TaskRecord, 'id' | 'state' | 'steps'>, global: readonly string[] = []): string[] {
  const reeve = ['reeve', ...global.map(shellWord)].join(' ');
  const id = shellWord(task.id);
  switch (task.state) {
    case 'waiting': {
      const steps = task.steps?.map((s) => s.name) ?? [];
      return [
        `${reeve} approve ${id} [--input JSON|@file] [--reason TEXT]`,
        `${reeve} reject ${id} --reason TEXT [--goto STEP]${steps.length > 0 ? `   (steps: ${steps.join(', ')})` : ''}`,
      ];
    }
    case 'queued':
    case 'backoff':
    case 'running':
      return [`${reeve} cancel ${id} [--reason TEXT]`];
    case 'failed':
    case 'cancelled':
    case 'quarantined':
      return [`${reeve} retry ${id} [--reason TEXT]`];
    default:
      // succeeded: nothing left; cancelling and compensating: the node is cleaning up.
      return [];
  }
}

/** A word as a POSIX shell reads it back: bare when safe, else single-quoted. */
export function shellWord(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
