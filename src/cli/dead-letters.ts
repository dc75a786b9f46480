import type { Command } from 'commander';
import { InvalidInputError } from '../errors.ts';
import { deadLetter, deadLetterSummary } from '../views/dead-letter-view.ts';
import type { ReeveStore } from '../ports/reeve-store.ts';
import { ago, Exit, table, type Io } from './output.ts';

/** What the command needs from the CLI (passed in, so this module imports neither main.ts nor task-commands.ts). */
export interface DeadLettersDeps {
  io: Io;
  /** Opens the store, runs, closes, maps errors to exit codes (task-commands.ts's withBackend). */
  withStore: (run: (store: ReeveStore, json: boolean) => Promise<number>) => () => Promise<void>;
  positiveInt: (name: string) => (value: string) => number;
}

/** `reeve dead-letters [--limit N]` and `reeve dead-letters show N`: the same shapes as GET /api/v1/dead-letters[/N]. */
export function registerDeadLetters(program: Command, { io, withStore, positiveInt }: DeadLettersDeps): void {
  const command = program
    .command('dead-letters')
    .description('rejected messages kept for inspection; `dead-letters show N` prints one with its whole body')
    .argument('[action]', '"show" to print one')
    .argument('[n]', 'the dead letter number (with show)')
    .option('--limit <n>', 'at most N, newest first (default 100)', positiveInt('--limit'));
  command.action(
    withStore(async (store, json) => {
      const [action, n] = command.args;
      if (action !== undefined) {
        if (action !== 'show' || n === undefined) throw new InvalidInputError('dead-letters', [{ path: 'action', message: `expected "show N" (got "${command.args.join(' ')}")` }]);
        const letter = await deadLetter(store, positiveInt('N')(n));
        if (json) io.out(JSON.stringify(letter));
        else io.out([`#${letter.n}  ${letter.code}  from ${letter.source}  ${new Date(letter.receivedAt).toISOString()}${letter.id ? `  task ${letter.id}` : ''}`, `reason  ${letter.reason}`, '', letter.body].join('\n'));
        return Exit.Ok;
      }
      const letters = await store.listDeadLetters(command.opts<{ limit?: number }>().limit ?? 100);
      const rows = letters.map(deadLetterSummary);
      if (json) io.out(JSON.stringify({ deadLetters: rows }));
      else if (rows.length === 0) io.out('no dead letters');
      else io.out(table([['N', 'CODE', 'SOURCE', 'RECEIVED', 'EXCERPT'], ...rows.map((r) => [String(r.n), r.code, r.source, ago(r.receivedAt, Date.now()), r.excerpt.slice(0, 60)])], io.isTTY));
      return Exit.Ok;
    }),
  );
}
