import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import type { Clock } from '../ports/clock.ts';
import type { Logger } from '../ports/logger.ts';
import type { ProcessRegistry } from '../ports/process-registry.ts';
import { CommandRunner } from '../pool/command-runner.ts';
import { CompositeRunner } from '../pool/composite-runner.ts';
import { GitWorktreeRunner } from '../pool/git-worktree.ts';
import { ModuleRunner } from '../pool/module-runner.ts';

/** What runs a node's handlers: module agents on worker threads, commands as process trees, git worktrees. */
export function nodeRunner(o: { config: Config; clock: Clock; log: Logger; registry: ProcessRegistry; owner: { nodeId: string; incarnation: string } }): CompositeRunner {
  const { config, clock } = o;
  return new CompositeRunner(
    moduleRunner(config, clock, o.log),
    new CommandRunner({
      clock,
      envAllowList: config.node.envAllowList,
      registry: o.registry,
      owner: o.owner,
      protectedPids: config.node.protectedPids,
      logDir: join(config.node.dataDir, 'logs'),
      secrets: config.secrets,
    }),
    new GitWorktreeRunner(),
  );
}

function moduleRunner(config: Config, clock: Clock, log: Logger): ModuleRunner {
  const threads = config.node.threads ?? Math.max(1, Math.min(config.node.concurrency, availableParallelism() * 2));
  const tasksPerThread = config.node.tasksPerThread ?? Math.ceil(config.node.concurrency / threads);
  return new ModuleRunner({ maxThreads: threads, tasksPerThread, clock, log: log.child({ component: 'module-pool' }), secrets: config.secrets });
}
