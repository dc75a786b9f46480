import { stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import type { ConfigIssue } from './errors.ts';
import type { AgentConfig, Config, HandlerConfig } from './schema.ts';

/**
 * Every file a kind runs, with the dotted config path that names it: module files (an agent's
 * `module`, a step's `run`/`compensate`/`gate`, a preflight) and programs given as a path
 * (`command[0]` written ./x, ../x or absolute; resolve-paths has made those absolute).
 */
export interface RunnableRef {
  kind: string;
  /** Dotted config path of the field: `agents.ship.steps.0.run.module`. */
  path: string;
  type: 'module' | 'command';
  /** The module file, or the program (absolute path or bare name) for a command. */
  file: string;
  /** Module handlers: the export to call. */
  exportName?: string;
  /** Command handlers: the child's working directory and extra environment, when set. */
  cwd?: string;
  env?: Readonly<Record<string, string>>;
}

type Runnable = HandlerConfig | Exclude<AgentConfig, { steps: unknown }> | NonNullable<AgentConfig['preflight']>;

function refOf(kind: string, path: string, h: Runnable): RunnableRef {
  if ('module' in h) return { kind, path: `${path}.module`, type: 'module', file: h.module, exportName: h.export };
  return { kind, path: `${path}.command.0`, type: 'command', file: h.command[0]!, ...(h.cwd === undefined ? {} : { cwd: h.cwd }), ...(h.env === undefined ? {} : { env: h.env }) };
}

/** Every module and command of every kind, in config order. */
export function runnablesOf(config: Config): RunnableRef[] {
  const refs: RunnableRef[] = [];
  for (const [kind, agent] of Object.entries(config.agents)) {
    const base = `agents.${kind}`;
    if ('steps' in agent) {
      agent.steps.forEach((step, i) => {
        refs.push(refOf(kind, `${base}.steps.${i}.run`, step.run));
        if (step.compensate) refs.push(refOf(kind, `${base}.steps.${i}.compensate`, step.compensate));
        if (step.gate) refs.push(refOf(kind, `${base}.steps.${i}.gate`, step.gate));
      });
    } else {
      // The agent's own path is the kind: `agents.echo.module`.
      const ref = refOf(kind, base, agent);
      refs.push(ref);
    }
    if (agent.preflight) refs.push(refOf(kind, `${base}.preflight`, agent.preflight));
  }
  return refs;
}

/** A program given as a path (not looked up on PATH) that the config could resolve. */
export function isPathProgram(program: string): boolean {
  return isAbsolute(program) && !program.includes('{{');
}

/**
 * Module files and path programs that do not exist (or are directories), as config issues.
 * Bare program names are looked up on PATH only by `reeve start` (the CLI's own PATH may not
 * be the node's).
 *
 * @param baseDir  where relative paths were resolved from, named in the fix.
 */
export async function missingFileIssues(config: Config, baseDir: string): Promise<ConfigIssue[]> {
  const refs = runnablesOf(config).filter((r) => r.type === 'module' || isPathProgram(r.file));
  const issues = await Promise.all(
    refs.map(async (ref): Promise<ConfigIssue | undefined> => {
      const info = await stat(ref.file).catch(() => undefined);
      if (info?.isFile()) return undefined;
      const what = ref.type === 'module' ? 'module file' : 'program';
      const problem = info ? `${ref.file} is a directory, not a ${what}` : `${what} ${ref.file} does not exist`;
      return { path: ref.path, message: `${problem}; create it or fix the path (relative paths resolve against ${baseDir})` };
    }),
  );
  return issues.filter((i): i is ConfigIssue => i !== undefined);
}
