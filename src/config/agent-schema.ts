import { z } from 'zod';
import { commandField, count, envField, ms, nameField, oneOf, pathField, regexSource, show } from './fields.ts';
import { oneOfByKey } from './one-of-by-key.ts';

/**
 * An agent kind: one handler (`module` or `command`) or a pipeline of `steps`, plus the
 * options every kind shares (timeouts, retry budgets, breaker, preflight).
 */

/** A kind's run timeout when its config sets none: 30 minutes. */
export const DEFAULT_TIMEOUT_MS = 30 * 60 * 1000;

const moduleFields = {
  /** A JS/TS file, relative to the config file. */
  module: pathField,
  /** Which export of the module is the handler. */
  export: z.string().min(1, 'expected an export name such as "default"').default('default'),
};

const commandFields = {
  /** Program and arguments; `command[0]` is looked up on PATH unless it starts with ./ or ../. */
  command: commandField,
  /** Working directory of the child process, relative to the config file. */
  cwd: pathField.optional(),
  /** Extra environment variables (added to the node's allow-listed ones). */
  env: envField.optional(),
};

/** Whether the task input is written to the child's stdin as JSON. */
const stdinField = oneOf(['json', 'none']).default('json');

const handlerHints = { module: '"./agents/dev.ts"', command: '["claude", "-p", "…"]' };

/** A step's `run`, `compensate` or `gate`: a module or a command, never both. */
export const handlerSchema = oneOfByKey(
  'a handler',
  {
    module: z.strictObject(moduleFields),
    command: z.strictObject({ ...commandFields, stdin: stdinField }),
  },
  handlerHints,
);

const stepSchema = z.strictObject({
  name: nameField,
  run: handlerSchema,
  /** Undoes the step when the task finally fails or is cancelled. */
  compensate: handlerSchema.optional(),
  /** A check run after the step; it may fail the step or route elsewhere. */
  gate: handlerSchema.optional(),
  /** How many times a `goto` may enter this step. */
  maxVisits: count().default(3),
  onMaxVisits: oneOf(['fail', 'wait']).default('fail'),
});

const stepsField = z
  .array(stepSchema, { error: (issue) => `expected an array of steps, got ${show(issue.input)}` })
  .min(1, 'expected at least one step, e.g. [{ "name": "develop", "run": { "module": "./agents/dev.ts" } }]')
  .superRefine((steps, ctx) => {
    // `goto` routes by name, so two steps with one name would make a route ambiguous.
    const firstIndex = new Map<string, number>();
    steps.forEach((step, index) => {
      const first = firstIndex.get(step.name);
      if (first === undefined) firstIndex.set(step.name, index);
      else ctx.addIssue({ code: 'custom', path: [index, 'name'], message: `duplicate step name "${step.name}" (also step ${first}); step names must be unique within a kind` });
    });
  });

/** Exponential backoff with full jitter between `baseMs` and `maxMs`; `maxAttempts` failures end the task. */
function budget(maxAttempts: number, maxMs: number) {
  return z
    .strictObject({ maxAttempts: count().default(maxAttempts), baseMs: ms().default(1000), maxMs: ms().default(maxMs) })
    .superRefine((b, ctx) => {
      if (b.maxMs < b.baseMs) ctx.addIssue({ code: 'custom', path: ['maxMs'], message: `must be >= baseMs (${b.baseMs}), got ${b.maxMs}` });
    })
    .prefault({});
}

const breakerSchema = z
  .strictObject({
    /** Consecutive transient failures that open the breaker. */
    threshold: count().default(5),
    /** How long the breaker stays open before it lets one probe through. */
    pauseMs: ms().default(60_000),
    /** The longest pause, however often probes fail. */
    maxPauseMs: ms().default(600_000),
  })
  .superRefine((b, ctx) => {
    if (b.maxPauseMs < b.pauseMs) ctx.addIssue({ code: 'custom', path: ['maxPauseMs'], message: `must be >= pauseMs (${b.pauseMs}), got ${b.maxPauseMs}` });
  });

const preflightTiming = {
  /** A preflight that takes longer fails. */
  timeoutMs: ms().default(10_000),
  /** How long a result gates claims before the check runs again. */
  ttlMs: ms().default(60_000),
};

/** A cheap check (e.g. `claude --version`) that must pass before tasks of the kind are claimed. */
const preflightSchema = oneOfByKey(
  'a preflight',
  {
    command: z.strictObject({ ...commandFields, ...preflightTiming }),
    module: z.strictObject({ ...moduleFields, ...preflightTiming }),
  },
  { command: '["claude", "--version"]', module: '"./checks/provider.ts"' },
);

const commonFields = {
  /**
   * A run longer than this is killed (process group: SIGTERM, `killGraceMs`, SIGKILL). Default 30
   * minutes, so a hung agent never holds a slot for good; 0 turns it off (the node warns at start).
   * A task's own `timeoutMs` overrides it either way.
   */
  timeoutMs: ms('non-negative').default(DEFAULT_TIMEOUT_MS),
  killGraceMs: ms('non-negative').default(10_000),
  /** A command run that writes no output for this long is treated as hung. */
  idleTimeoutMs: ms().optional(),
  /** A module run that does not call `ctx.heartbeat` for this long is treated as hung. */
  heartbeatTimeoutMs: ms().optional(),
  /** At most this many tasks of the kind run at once on a node (default: only `node.concurrency`). */
  concurrency: count().optional(),
  timeoutIs: oneOf(['permanent', 'transient']).default('permanent'),
  retry: z.strictObject({ transient: budget(5, 300_000), permanent: budget(2, 60_000) }).prefault({}),
  /** A provider's Retry-After is honoured up to this. */
  maxRetryAfterMs: ms('non-negative').default(600_000),
  /** Regex sources: a failure whose message or log tail matches is transient. */
  retryOn: z.array(regexSource).default(() => []),
  /** The same error this many times in a row quarantines the task (0: off). */
  poison: z.strictObject({ repeats: count('non-negative').default(3) }).prefault({}),
  breaker: breakerSchema.prefault({}),
  /** Kinds sharing a key share a breaker (default: the kind name). */
  breakerKey: nameField.optional(),
  preflight: preflightSchema.optional(),
  /** Overrides `node.crashLimit` for this kind. */
  crashLimit: count().optional(),
  /**
   * A git repository: each task's workspace is then a `git worktree` of it on the branch
   * `reeve/<task id>`, created as the saga's first step (`workspace`) and removed by that step's
   * compensation when the task fails or is cancelled; on success the worktree directory goes and
   * the branch stays (it holds the work).
   */
  repo: pathField.optional(),
  /** Keep the task's workspace directory after it ends (default: removed at a terminal state). */
  keepWorkspace: z.boolean({ error: (issue) => `expected true or false, got ${show(issue.input)}` }).default(false),
};

export const moduleAgentSchema = z.strictObject({ ...moduleFields, ...commonFields });
export const commandAgentSchema = z.strictObject({ ...commandFields, stdin: stdinField, ...commonFields });
export const stepsAgentSchema = z.strictObject({ steps: stepsField, ...commonFields });

export const agentSchema = oneOfByKey(
  'an agent',
  { module: moduleAgentSchema, command: commandAgentSchema, steps: stepsAgentSchema },
  { ...handlerHints, steps: '[{ "name": "develop", "run": { "module": "./agents/dev.ts" } }]' },
);

export type ModuleAgentConfig = z.output<typeof moduleAgentSchema>;
export type CommandAgentConfig = z.output<typeof commandAgentSchema>;
export type StepsAgentConfig = z.output<typeof stepsAgentSchema>;
export type AgentConfig = z.output<typeof agentSchema>;
export type HandlerConfig = z.output<typeof handlerSchema>;
export type StepConfig = StepsAgentConfig['steps'][number];
