// Succeeds at once: returns its input.
import type { AgentContext } from 'reeve/agent';

export default async function echo(input: unknown, ctx: AgentContext) {
  ctx.log.info({ input }, 'echo');
  return { echo: input ?? null, attempt: ctx.attempt };
}
