import type { Runner, RunOutcome, RunRequest } from '../ports/runner.ts';

/** One Runner for the runtime: module handlers to the thread pool, commands to child processes. */
export class CompositeRunner implements Runner {
  constructor(
    private readonly modules: Runner,
    private readonly commands: Runner,
  ) {}

  run(request: RunRequest): Promise<RunOutcome> {
    return request.handler.type === 'module' ? this.modules.run(request) : this.commands.run(request);
  }

  async close(): Promise<void> {
    await Promise.all([this.modules.close(), this.commands.close()]);
  }
}
