import type { Command } from 'commander';
import { InvalidInputError } from '../errors.ts';
import { MAX_TIMER_MS } from '../protocol/patterns.ts';
import type { SubmitRequest } from '../protocol/task.ts';
import { globalArgs, parseInputOption, withBackend, type CliContext } from './context.ts';
import { integer } from './arg-shapes.ts';
import { describeTask, Exit, publicRecord } from './output.ts';

/**
 * `reeve submit KIND`: a store write in embedded mode, a JetStream publish on `<prefix>.submit`
 * in a cluster (the same path a publisher in any language takes). `--wait` follows the task's
 * events (and re-reads the store) until it ends; exit 1 unless it succeeded.
 */
export function registerSubmit(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  const io = ctx.io;
  const sub = program
    .command('submit <kind>')
    .description('submit a task of KIND; --wait follows it until it ends')
    .option('-i, --input <json|@file>', 'task input as JSON, or @path to a JSON file')
    .option('--id <id>', 'task id (idempotent: a second submit with the same id returns the first task)')
    .option('--priority <n>', 'higher runs first (default 0)', integer('--priority', -1_000_000, 1_000_000))
    .option('--breaker-key <key>', 'breaker key (default: the kind)')
    .option('--timeout-ms <ms>', "run timeout for this task (default: the kind's timeoutMs)", integer('--timeout-ms', 1, MAX_TIMER_MS))
    .option('--wait', 'wait until the task ends; exit 1 unless it succeeded');
  sub.action(
    withBackend(ctx, program, setExit, async (_store, json, config, backend) => {
      const kind = sub.args[0]!;
      // Loaded when a task is submitted, not by every command that registers `submit`.
      const [{ submitTask }, { submitRequestSchema }, { parseOrThrow }] = await Promise.all([import('../client/task-follow.ts'), import('../protocol/task.ts'), import('../protocol/validate.ts')]);
      const kinds = Object.keys(config.agents);
      if (kinds.length > 0 && !kinds.includes(kind)) {
        throw new InvalidInputError('task submission', [{ path: 'kind', message: `"${kind}" is not a configured kind; configured: ${kinds.join(', ')}` }]);
      }
      const o = sub.opts<{ input?: string; id?: string; priority?: number; breakerKey?: string; timeoutMs?: number; wait?: boolean }>();
      const input = await parseInputOption(o.input);
      const priority = o.priority;
      const breakerKey = o.breakerKey ?? config.agents[kind]?.breakerKey;
      const request = parseOrThrow(
        submitRequestSchema,
        {
          kind,
          ...(input === undefined ? {} : { input }),
          ...(o.id === undefined ? {} : { id: o.id }),
          ...(priority === undefined ? {} : { priority }),
          ...(breakerKey ? { breakerKey } : {}),
          ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
        },
        'task submission',
      ) as SubmitRequest;
      // Human mode: progress on stderr while waiting (stdout keeps the final record only).
      const progress = o.wait && !json ? (await import('./wait-progress.ts')).waitProgress(io, backend, { kind, global: globalArgs(program) }) : undefined;
      // A cluster may reject the submission after accepting the publish: the wait then ends with it.
      if (o.wait && backend.mode === 'cluster') request.id ??= (await import('../store/task-id.ts')).newTaskId(Date.now());
      const rejection = o.wait && backend.mode === 'cluster' ? (await import('./rejection-watch.ts')).watchRejection(backend, request.id!) : undefined;
      const { submitted, task } = await submitTask(backend, request, {
        wait: Boolean(o.wait),
        ...(rejection ? { signal: rejection.signal } : {}),
        onSubmitted: (s) => {
          if (o.wait && !json) io.err(`submitted ${s.id}${s.created ? '' : ' (it already existed)'}; waiting…`);
        },
        ...(progress ? { follow: { onChange: progress.onChange, onRecord: progress.onRecord } } : {}),
      }).finally(() => {
        progress?.stop();
        rejection?.stop();
      });
      if (!task) {
        if (json) io.out(JSON.stringify({ id: submitted.id, created: submitted.created, ...(submitted.state ? { state: submitted.state } : {}) }));
        else if (submitted.created) io.out(`submitted ${submitted.id} (${kind})${backend.mode === 'cluster' ? ' to the cluster' : ''}`);
        else io.out(`task ${submitted.id} already exists${submitted.state ? ` (${submitted.state})` : ''}; not submitted again`);
        return Exit.Ok;
      }
      io.out(json ? JSON.stringify(publicRecord(task)) : describeTask(publicRecord(task), Date.now()));
      return task.state === 'succeeded' ? Exit.Ok : Exit.TaskNotSucceeded;
    }),
  );
}
