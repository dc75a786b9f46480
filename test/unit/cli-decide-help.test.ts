import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import type { CliContext } from '../../src/cli/context.ts';
import { registerDecisions } from '../../src/cli/decide.ts';

/** The help of one decision command, as `reeve VERB --help` prints it (one line per option). */
function help(verb: string): string {
  const program = new Command('reeve');
  // Registering reads nothing from the context; only running a command would.
  registerDecisions(program, {} as CliContext, () => {});
  const command = program.commands.find((c) => c.name() === verb)!;
  command.configureHelp({ helpWidth: 1000 });
  return command.helpInformation();
}

describe('approve and reject help', () => {
  it('says what the step sees of each decision: approve --by reaches ctx.approval.by, reject --by only the history', () => {
    expect(help('approve')).toMatch(/--by <name> +who decides \(recorded; the next step sees it as ctx\.approval\.by\)/);
    const reject = help('reject');
    expect(reject).toMatch(/--by <name> +who decides \(recorded; shown in the history as "rejected by NAME"\)/);
    expect(reject).not.toContain('ctx.approval');
  });
});
