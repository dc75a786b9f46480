import type { Command } from 'commander';
import { InvalidInputError, TaskNotFoundError } from '../errors.ts';
import { isTerminal, type TaskState } from '../protocol/task-states.ts';
import { registerDeadLetters } from './dead-letters.ts';
import { registerDrain } from './drain.ts';
import { registerPurge } from './purge.ts';
import { registerSubmit } from './submit.ts';
import { registerDecisions } from './decide.ts';
import { globalArgs, positiveInt, withBackend, type CliContext } from './context.ts';
import { ago, describeTask, Exit, publicRecord, table, type TaskExtras } from './output.ts';
import type { Config } from '../config/schema.ts';
import type { TaskRecord } from '../protocol/task.ts';
import { join } from 'node:path';
import { checkArg, kindName, taskId } from './arg-shapes.ts';
import { statusReport } from '../views/status-report.ts';

type SetExit = (code: number) => void;

export function registerTaskCommands(program: Command, ctx: CliContext, setExit: SetExit, meta: { states: readonly string[] }): void {
  registerSubmit(program, ctx, setExit);
  registerReads(program, ctx, setExit, meta.states);
  registerDecisions(program, ctx, setExit);
  registerStatus(program, ctx, setExit);
  registerReap(program, ctx, setExit);
  registerDrain(program, ctx, setExit);
  registerPurge(program, ctx, setExit, { terminal: meta.states.filter((s) => isTerminal(s as TaskState)) });
  registerDeadLetters(program, { io: ctx.io, withStore: (run) => withBackend(ctx, program, setExit, run), positiveInt });
}

/** `reeve tasks` and `reeve show`. */
function registerReads(program: Command, ctx: CliContext, setExit: SetExit, states: readonly string[]): void {
  const io = ctx.io;
  const tasks = program
    .command('tasks')
    .description('list tasks, newest first')
    .option('--state <state>', `only this state (${states.join(', ')})`)
    .option('--kind <kind>', 'only this kind', kindName('--kind'))
    .option('--limit <n>', 'at most N tasks (default 100)', positiveInt('--limit'))
    .option('--watch', 'follow changes live: a table redrawn on each change (one line per change when not a TTY)');
  tasks.action(
    withBackend(ctx, program, setExit, async (store, json, _config, backend) => {
      const o = tasks.opts<{ state?: string; kind?: string; limit?: number; watch?: boolean }>();
      if (o.state !== undefined && !states.includes(o.state)) {
        throw new InvalidInputError('--state', [{ path: 'state', message: `must be one of ${states.join(', ')} (got ${JSON.stringify(o.state)})` }]);
      }
      const query = { ...(o.state !== undefined ? { state: o.state as TaskState } : {}), ...(o.kind !== undefined ? { kind: o.kind } : {}), limit: o.limit ?? 100 };
      if (o.watch) return (await import('./watch.ts')).watchTasks(backend, io, query, json);
      const list = await store.query(query);
      if (json) io.out(JSON.stringify(list.map(publicRecord)));
      else if (list.length === 0) io.out('no tasks');
      else {
        const now = Date.now();
        io.out(table([['ID', 'KIND', 'STATE', 'STEP', 'ATTEMPTS t/p/c', 'UPDATED'], ...list.map((t) => [t.id, t.kind, t.state, t.step ?? '-', `${t.attempts.transient}/${t.attempts.permanent}/${t.attempts.crashes}`, ago(t.updatedAt, now)])], io.isTTY));
      }
      return Exit.Ok;
    }),
  );

  const show = program.command('show <id>').description('one task: state, attempts, history, compensations').option('--follow', 'print each state change until the task ends');
  show.action(
    withBackend(ctx, program, setExit, async (store, json, config, backend) => {
      const id = checkArg(show.args[0], taskId('id'));
      if (show.opts<{ follow?: boolean }>().follow) return (await import('./watch.ts')).followTask(backend, io, id, json);
      const task = await store.get(id);
      if (!task) throw new TaskNotFoundError(id);
      if (json) io.out(JSON.stringify(publicRecord(task)));
      else io.out(describeTask(publicRecord(task), Date.now(), await showExtras(publicRecord(task), config, backend.mode, globalArgs(program))));
      return Exit.Ok;
    }),
  );
}

function registerStatus(program: Command, ctx: CliContext, setExit: SetExit): void {
  const io = ctx.io;
  const status = program
    .command('status')
    .description('nodes, breakers, preflight and task counts')
    .option('--exact', 'cluster mode: count every task in the store instead of taking the counts of a live node (slow on a large bucket)');
  status.action(
    withBackend(ctx, program, setExit, async (store, json, _config, backend) => {
      const report = await statusReport(store, Date.now(), backend.mode, { exact: Boolean(status.opts<{ exact?: boolean }>().exact) });
      if (json) io.out(JSON.stringify(report));
      else {
        io.out(`mode ${report.mode}`);
        io.out(report.nodes.length ? table([['NODE', 'STATE', 'RUNNING', 'CAPACITY', 'SEEN'], ...report.nodes.map((n) => [n.id, n.state, String(n.running), String(n.capacity), ago(n.lastSeenAt, Date.now())])], io.isTTY) : 'no nodes have run on this store');
        const from = report.countsFrom ? ` (as counted by ${report.countsFrom.node} ${ago(report.countsFrom.at, Date.now())}; --exact counts every task)` : '';
        io.out(`tasks ${Object.entries(report.counts).map(([s, n]) => `${s}=${n}`).join(' ') || 'none'}${from}`);
        for (const b of report.breakers.filter((x) => x.state !== 'closed')) io.out(`breaker ${b.key} ${b.state}${b.openUntil ? ` until ${new Date(b.openUntil).toISOString()}` : ''}`);
        for (const p of report.preflight.filter((x) => !x.ok)) io.out(`preflight ${p.kind} failing: ${p.reason}`);
        const { pending, failed, lastError } = report.notifications;
        if (pending || failed) io.out(`notifications pending=${pending} failed=${failed}${lastError ? `; last error ${ago(lastError.at, Date.now())} (${lastError.event} ${lastError.id}): ${lastError.message}` : ''}`);
      }
      return Exit.Ok;
    }),
  );
}

function registerReap(program: Command, ctx: CliContext, setExit: SetExit): void {
  const io = ctx.io;
  const reap = program
    .command('reap')
    .description('kill process trees left by dead node incarnations or failed dispatches on this machine')
    .option('--dry-run', 'report what would be reaped, kill nothing');
  reap.action(
    withBackend(ctx, program, setExit, async (store, json, config) => {
      const { reapFromCli } = await import('./reap.ts');
      const report = await reapFromCli(store, config, Boolean(reap.opts<{ dryRun?: boolean }>().dryRun));
      if (json) io.out(JSON.stringify(report));
      else {
        io.out(`reaped ${report.reaped} process tree(s)${report.alive.length ? `; orphans found: ${report.alive.map((a) => `${a.pid} (task ${a.taskId})`).join(', ')}` : ''}`);
        for (const s of report.skipped) io.out(`skipped ${s.pid}: ${s.reason}`);
      }
      return Exit.Ok;
    }),
  );
}

/** `reeve show`: where the task's run log is, and the commands its state allows. */
async function showExtras(task: TaskRecord, config: Config, mode: 'embedded' | 'cluster', global: string[]): Promise<TaskExtras> {
  const [{ latestRunLog }, { nextActions }] = await Promise.all([import('../views/run-log-file.ts'), import('./next-actions.ts')]);
  const logDir = join(config.node.dataDir, 'logs');
  const found = await latestRunLog(logDir, task.id);
  const runLog = found ?? (mode === 'cluster' && task.history.length > 1 ? `${join(logDir, `${task.id}.<run>.log`)} on the node that ran it (command steps only)` : undefined);
  return { ...(runLog ? { runLog } : {}), actions: nextActions(task, global) };
}
