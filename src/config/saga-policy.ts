import { ErrorCode, ReeveError } from '../errors.ts';
import type { SagaPolicy, StepSpec } from '../machines/task-saga-types.ts';
import type { Config } from './schema.ts';

/** The step a kind with a `repo` runs first: it creates the task's git worktree. */
export const WORKTREE_STEP = 'workspace';

/** The configured kind names, sorted. */
export function knownKinds(config: Config): string[] {
  return Object.keys(config.agents).sort();
}

/**
 * The saga policy of `kind` as configured now. A `module` or `command` kind is one step named
 * "run" that is never revisited; a `steps` kind maps each step, compensable when it has a
 * `compensate` handler. The result is a fresh object: a saga keeps it in its context.
 */
export function sagaPolicyFor(config: Config, kind: string): SagaPolicy {
  const agent = Object.hasOwn(config.agents, kind) ? config.agents[kind] : undefined;
  if (agent === undefined) {
    const kinds = knownKinds(config);
    const listed = kinds.length ? `configured kinds: ${kinds.join(', ')}` : 'no kinds are configured';
    throw new ReeveError(ErrorCode.InvalidInput, `unknown kind "${kind}" (${listed}); add it under "agents" in the config`, {
      data: { kind, kinds },
    });
  }
  const steps: StepSpec[] =
    'steps' in agent
      ? agent.steps.map((step) => ({
          name: step.name,
          compensable: step.compensate !== undefined,
          maxVisits: step.maxVisits,
          onMaxVisits: step.onMaxVisits,
        }))
      : [{ name: 'run', compensable: false, maxVisits: 1, onMaxVisits: 'fail' }];
  // A kind with a repo gets a first step that creates the task's worktree; its compensation
  // removes it (see `repo` in the agent schema).
  if (agent.repo !== undefined) steps.unshift({ name: WORKTREE_STEP, compensable: true, maxVisits: 1, onMaxVisits: 'fail' });
  return {
    steps,
    retry: { transient: { ...agent.retry.transient }, permanent: { ...agent.retry.permanent } },
    crashLimit: agent.crashLimit ?? config.node.crashLimit,
    timeoutIs: agent.timeoutIs,
    maxRetryAfterMs: agent.maxRetryAfterMs,
    poisonRepeats: agent.poison.repeats,
  };
}
