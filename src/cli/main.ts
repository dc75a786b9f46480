import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { TASK_STATES } from '../protocol/task-states.ts';
import { processIo, reportError, Exit, type Io } from './output.ts';
import type { CliContext, GlobalOptions } from './context.ts';
import { registerTaskCommands } from './task-commands.ts';
import { filePath, wsUrl } from './arg-shapes.ts';

import { guardOutput } from './exit.ts';

export { exitWhenFlushed } from './exit.ts';

/**
 * Everything beyond commander is imported by the command that needs it (config and zod, SQLite,
 * the NATS client, the runtime), so `reeve --version` or `reeve show` pays only for its own.
 */
function makeContext(io: Io): CliContext {
  return {
    io,
    cwd: process.cwd(),
    env: process.env,
    loadConfig: async (opts) => {
      const { loadConfig } = await import('../config/load.ts');
      return loadConfig({ cwd: process.cwd(), env: process.env, checkFiles: true, ...(opts.config ? { configPath: opts.config } : {}) });
    },
    openBackend: async (config) => {
      const [{ openBackend }, { systemClock }, { silentLogger }] = await Promise.all([import('../node/open-backend.ts'), import('../platform/system-clock.ts'), import('../ports/logger.ts')]);
      return openBackend({ config, log: silentLogger, clock: systemClock, name: 'reeve-cli', role: 'client' });
    },
  };
}

/** The package's version (package.json sits two levels up from src/cli/ and from dist/cli/). */
export function reeveVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

export function buildProgram(ctx: CliContext, setExit: (code: number) => void): Command {
  const program = new Command('reeve')
    .description('Supervise long-running agent runs: durable sagas, leases, retries, process control.')
    .addOption(new Option('-c, --config <file>', 'config file (default: reeve.config.json|.mjs|.ts here, or $REEVE_CONFIG)').argParser(filePath('--config')))
    .option('--json', 'print exactly one JSON value on stdout; logs go to stderr')
    .version(reeveVersion(), '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.io.out(s), writeErr: (s) => ctx.io.err(s) })
    .showHelpAfterError('(run reeve --help for usage)');

  const start = program
    .command('start')
    .description('run a node: claim tasks and run them until SIGTERM/SIGINT (drain) ')
    .option('--no-check', 'do not check that every module loads and every command is on PATH before claiming (for programs installed later)')
    .option('--inspect', 'serve live state to the XState inspector at ws://HOST:PORT/inspect (config inspect: true; starts HTTP on a free loopback port if http.port is unset)')
    .addOption(new Option('--inspect-url <url>', 'push live state to an outside inspector relay, e.g. ws://127.0.0.1:8080').argParser(wsUrl('--inspect-url')));
  start.action(async () => setExit(await (await import('./start.ts')).runStart(ctx, { ...program.opts<GlobalOptions>(), ...start.opts<{ check: boolean; inspect?: boolean; inspectUrl?: string }>() })));

  registerTaskCommands(program, ctx, setExit, { states: TASK_STATES });
  return program;
}

/** Runs the CLI and returns the exit code. */
export async function main(argv: string[], io: Io = processIo): Promise<number> {
  if (io === processIo) guardOutput();
  const ctx = makeContext(io);
  let exit: number = Exit.Ok;
  const program = buildProgram(ctx, (code) => {
    exit = code;
  });
  const json = argv.includes('--json');
  if (argv.length === 0) {
    // Bare `reeve`: the help, on stdout, as a successful answer (commander would exit 1).
    io.out(program.helpInformation());
    return Exit.Ok;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return exit;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return Exit.Ok;
      // One line, like every other --json error (commander puts its suggestion on a second one).
      if (json) io.out(JSON.stringify({ error: { code: 'USAGE', message: err.message.replace(/\s*\n\s*/g, ' ') } }));
      // Commander already printed its message on stderr; usage errors are exit 2 (it says 1).
      return Exit.Usage;
    }
    return reportError(io, err, json);
  }
}
