import type { Command } from 'commander';
import { InvalidInputError } from '../errors.ts';
import type { TaskState } from '../protocol/task-states.ts';
import { positiveInt, withBackend, type CliContext } from './context.ts';
import { Exit } from './output.ts';

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `30d`, `12h`, `90m`, `45s`, `500ms`: a duration in ms. INVALID_INPUT naming the option otherwise. */
export function parseDuration(option: string) {
  return (value: string): number => {
    const m = /^(\d+)(ms|s|m|h|d)$/.exec(value.trim());
    const n = m ? Number(m[1]) * UNITS[m[2]!]! : Number.NaN;
    if (!Number.isSafeInteger(n) || n <= 0) {
      throw new InvalidInputError(option, [{ path: option, message: `must be a duration such as 30d, 12h, 90m or 45s (got ${JSON.stringify(value)})` }]);
    }
    return n;
  };
}

/**
 * `reeve purge --older-than 30d`: deletes finished tasks (succeeded, failed, cancelled,
 * quarantined) whose last change is older than that, record, history and annotations, and the
 * dead letters received before then (not with `--state`), in both modes. A cluster's KV bucket keeps every task until then (nats-server 2.9.10 has no per-key
 * TTL), and every node's index holds each one. Required duration: nothing is purged by default.
 */
export function registerPurge(program: Command, ctx: CliContext, setExit: (code: number) => void, meta: { terminal: readonly string[] }): void {
  const io = ctx.io;
  const purge = program
    .command('purge')
    .description('delete finished tasks and dead letters older than a duration, for good (--dry-run first to see them)')
    .requiredOption('--older-than <duration>', 'finished longer ago than this: 30d, 12h, 90m, 45s', parseDuration('--older-than'))
    .option('--state <state...>', `only tasks in these finished states (${meta.terminal.join(', ')}; default all), no dead letters`)
    .option('--limit <n>', 'at most N tasks, oldest first (default 1000, at most 10000; run again for more)', positiveInt('--limit'))
    .option('--dry-run', 'list what would be deleted, delete nothing');
  purge.action(
    withBackend(ctx, program, setExit, async (store, json) => {
      const o = purge.opts<{ olderThan: number; state?: string[]; limit?: number; dryRun?: boolean }>();
      const bad = o.state?.find((s) => !meta.terminal.includes(s));
      if (bad !== undefined) throw new InvalidInputError('--state', [{ path: 'state', message: `only finished tasks can be purged: ${meta.terminal.join(', ')} (got ${JSON.stringify(bad)})` }]);
      const limit = o.limit ?? 1000;
      const before = Date.now() - o.olderThan;
      const dryRun = o.dryRun ? { dryRun: true } : {};
      const result = await store.purge({ before, limit, ...(o.state ? { states: o.state as TaskState[] } : {}), ...dryRun });
      // Dead letters age out with the tasks, unless the purge is narrowed to some task states.
      const letters = o.state ? { seqs: [] } : await store.purgeDeadLetters({ before, limit, ...dryRun });
      const more = result.ids.length === limit || letters.seqs.length === limit;
      if (json) io.out(JSON.stringify({ purged: result.ids.length, ids: result.ids, deadLetters: letters.seqs.length, dryRun: result.dryRun, before, more }));
      else {
        const verb = result.dryRun ? 'would purge' : 'purged';
        io.out(`${verb} ${result.ids.length} task(s) finished and ${letters.seqs.length} dead letter(s) received before ${new Date(before).toISOString()}${more ? ' (the limit: run it again for more)' : ''}`);
        if (result.dryRun && result.ids.length) io.out(result.ids.join('\n'));
      }
      return Exit.Ok;
    }),
  );
}
