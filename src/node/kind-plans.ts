import type { KindPlan } from '../actors/kind-plan.ts';
import type { AgentConfig, HandlerConfig } from '../config/agent-schema.ts';
import { sagaPolicyFor, WORKTREE_STEP } from '../config/saga-policy.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../ports/logger.ts';
import type { HandlerSpec } from '../ports/runner.ts';

/** Config → what the runtime runs. Rebuilt on every config (re)load: tasks refer to kinds by name. */
export function handlerSpec(handler: HandlerConfig | AgentConfig): HandlerSpec {
  if ('module' in handler && typeof handler.module === 'string') {
    return { type: 'module', file: handler.module, exportName: ('export' in handler && typeof handler.export === 'string' ? handler.export : 'default') };
  }
  const command = handler as { command: string[]; cwd?: string; env?: Record<string, string>; stdin?: 'json' | 'none' };
  return {
    type: 'command',
    command: command.command,
    stdin: command.stdin ?? 'json',
    ...(command.cwd === undefined ? {} : { cwd: command.cwd }),
    ...(command.env === undefined ? {} : { env: command.env }),
  };
}

/**
 * Warns about each kind whose config turns the run timeout off (`timeoutMs: 0`): allowed, since
 * some runs are meant to last, but a hung run of that kind then holds its slot until someone
 * cancels it, which an operator should know from the start log.
 */
export function warnUntimedKinds(config: Config, log: Logger): void {
  for (const [kind, agent] of Object.entries(config.agents)) {
    if (agent.timeoutMs === 0) log.warn({ kind }, 'timeoutMs is 0: runs of this kind are never timed out unless a task sets its own timeoutMs');
  }
}

export function buildKindPlans(config: Config): Map<string, KindPlan> {
  const plans = new Map<string, KindPlan>();
  for (const [kind, agent] of Object.entries(config.agents)) {
    const steps: Array<{ name: string; run: HandlerSpec; compensate?: HandlerSpec; gate?: HandlerSpec }> =
      'steps' in agent
        ? agent.steps.map((s) => ({
            name: s.name,
            run: handlerSpec(s.run),
            ...(s.compensate ? { compensate: handlerSpec(s.compensate) } : {}),
            ...(s.gate ? { gate: handlerSpec(s.gate) } : {}),
          }))
        : [{ name: 'run', run: handlerSpec(agent) }];
    if (agent.repo !== undefined) {
      steps.unshift({ name: WORKTREE_STEP, run: { type: 'worktree', op: 'add', repo: agent.repo }, compensate: { type: 'worktree', op: 'remove', repo: agent.repo } });
    }
    const heartbeatTimeoutMs = agent.heartbeatTimeoutMs ?? config.node.heartbeatTimeoutMs;
    plans.set(kind, {
      kind,
      policy: sagaPolicyFor(config, kind),
      steps,
      killGraceMs: agent.killGraceMs,
      keepWorkspace: agent.keepWorkspace,
      ...(agent.repo === undefined ? {} : { repo: agent.repo }),
      breaker: { threshold: agent.breaker.threshold, pauseMs: agent.breaker.pauseMs, maxPauseMs: agent.breaker.maxPauseMs },
      breakerKey: agent.breakerKey ?? kind,
      ...(agent.preflight ? { preflight: { handler: handlerSpec(agent.preflight as HandlerConfig), timeoutMs: agent.preflight.timeoutMs, ttlMs: agent.preflight.ttlMs } } : {}),
      retryOn: agent.retryOn,
      // 0 is "no timeout" in config; a plan without one leaves only a task's own override.
      ...(agent.timeoutMs === 0 ? {} : { timeoutMs: agent.timeoutMs }),
      ...(heartbeatTimeoutMs === undefined ? {} : { heartbeatTimeoutMs }),
      ...(agent.idleTimeoutMs === undefined ? {} : { idleTimeoutMs: agent.idleTimeoutMs }),
      ...(agent.concurrency === undefined ? {} : { concurrency: agent.concurrency }),
    });
  }
  return plans;
}
