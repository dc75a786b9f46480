import type { Command } from 'commander';
import { InvalidInputError } from '../errors.ts';
import type { OperationResult } from '../actors/operator.ts';
import type { TaskOp } from '../protocol/task-control.ts';
import type { Json } from '../protocol/task.ts';
import { checkArg, taskId, text } from './arg-shapes.ts';
import { parseInputOption, withBackend, type CliContext } from './context.ts';
import { Exit } from './output.ts';

/**
 * `reeve approve | reject | cancel | retry ID`: the operator operations, through the same code
 * path as the HTTP API and `<prefix>.control.task.<id>` (actors/operator.ts), with the same
 * field rules (protocol/task-control.ts).
 */
export function registerDecisions(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  const by = (seen: string) => ['--by <name>', `who decides (recorded; ${seen})`, text('--by'), process.env.USER || 'operator'] as const;

  const cancel = program.command('cancel <id>').description('cancel a task (its compensations run)').option('--reason <text>', 'recorded in history', text('--reason'), 'cancelled by operator');
  cancel.action(operation(cancel, 'cancel', (o) => ({ op: 'cancel', reason: o.reason! })));

  const retry = program.command('retry <id>').description('re-open a failed, cancelled or quarantined task with fresh budgets').option('--reason <text>', 'recorded in history', text('--reason'), 'retried by operator');
  retry.action(operation(retry, 'retry', (o) => ({ op: 'retry', reason: o.reason! })));

  const approve = program
    .command('approve <id>')
    .description('approve a task waiting for a person: the next step runs and sees ctx.approval (--reject: the same as reject)')
    .option('-i, --input <json|@file>', 'JSON (or @path to a JSON file) the next step gets as ctx.approval.input')
    .option('--reason <text>', 'why (recorded; the next step sees it as ctx.approval.reason)', text('--reason'))
    .option(...by('the next step sees it as ctx.approval.by'))
    .option('--reject <reason>', 'reject instead (an alias of `reeve reject ID --reason`)', text('--reject'))
    .option('--goto <step>', 'with --reject: send the task back to this step');
  approve.action(operation(approve, 'approve', (o, input) => (o.reject !== undefined ? { op: 'reject', reason: o.reject, by: o.by!, goto: o.goto } : { op: 'approve', by: o.by!, input, reason: o.reason, goto: o.goto })));

  const reject = program
    .command('reject <id>')
    .description('reject a task waiting for a person: with --goto it goes back to that step (which sees ctx.feedback), else it is compensated and fails')
    .option('--reason <text>', 'why (required; recorded, and the step sent back sees it as ctx.feedback.reason)', text('--reason'))
    .option('--goto <step>', 'send the task back to this step (counted against its maxVisits)')
    // ctx.feedback is { reason, from }: who rejected is in the history ("rejected by ana: …"), not in the step.
    .option(...by('shown in the history as "rejected by NAME"'));
  reject.action(operation(reject, 'reject', (o) => ({ op: 'reject', reason: o.reason, by: o.by!, goto: o.goto })));

  type Options = { reason?: string; by?: string; reject?: string; goto?: string; input?: string };
  type Request = { op: TaskOp; reason?: string | undefined; by?: string; goto?: string | undefined; input?: Json | undefined };
  function operation(command: Command, verb: TaskOp, build: (o: Options, input: Json | undefined) => Request) {
    return withBackend(ctx, program, setExit, async (store, json) => {
      const id = checkArg(command.args[0], taskId('id'));
      const options = command.opts<Options>();
      if (options.reject !== undefined && options.input !== undefined) throw new InvalidInputError(verb, [{ path: '--input', message: 'is only for approve; leave it out with --reject' }]);
      const request = build(options, await parseInputOption(options.input));
      const [{ operateOnTask }, { checkDecision }, { systemClock }] = await Promise.all([import('../actors/operator.ts'), import('./decision-check.ts'), import('../platform/system-clock.ts')]);
      // What the operation's own write left: a node may claim the task the next instant.
      const done = await operateOnTask(store, systemClock, id, checkDecision(request));
      ctx.io.out(json ? JSON.stringify({ id, state: done.state, ...(done.step ? { step: done.step } : {}), ...(request.op === 'cancel' ? { cancelRequested: true } : {}) }) : describeOutcome(request.op, id, done));
      return Exit.Ok;
    });
  }
}

function describeOutcome(op: TaskOp, id: string, done: OperationResult): string {
  if (op === 'cancel') return `cancel requested for ${id} (now ${done.state})`;
  if (op === 'retry') return `re-opened ${id}: ${done.state}`;
  return `${op === 'approve' ? 'approved' : 'rejected'} ${id}: now ${done.state}${done.reason ? ` — ${done.reason}` : ''}`;
}
