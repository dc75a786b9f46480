// Step 1 of `post`: writes a draft, revising it with the feedback of a failed gate or a person's
// rejection (ctx.feedback), then asks for a person's approval before `publish` runs.
import type { AgentContext } from 'reeve/agent';

export default async function draft(input: { topic?: string } | undefined, ctx: AgentContext) {
  const topic = input?.topic ?? 'an update';
  const previous = ctx.steps['draft'] as { revision: number } | undefined;
  const revision = previous ? previous.revision + 1 : 0;
  const text = ctx.feedback ? `About ${topic}, revised after: ${ctx.feedback.reason}.` : `About ${topic}.`;
  ctx.waitForApproval();
  return { text, revision };
}
