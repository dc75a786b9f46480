import type { Runner, RunOutcome, RunRequest } from '../ports/runner.ts';

/** One Runner for the runtime: modules to the thread pool, commands to child processes, worktrees to git. */
export class CompositeRunner implements Runner {
  constructor(
    private readonly modules: Runner,
    private readonly commands: Runner,
    private readonly worktrees: Runner,
  ) {}

  run(request: RunRequest): Promise<RunOutcome> {
    const type = request.handler.type;
    return type === 'module' ? this.modules.run(request) : type === 'command' ? this.commands.run(request) : this.worktrees.run(request);
  }

  async close(): Promise<void> {
    await Promise.all([this.modules.close(), this.commands.close(), this.worktrees.close()]);
  }
}
