// Step 2 of `post`: runs once a person approved (reeve approve ID --input '{"channel":"blog"}');
// the approval's input, reason and approver arrive as ctx.approval.
import type { AgentContext } from 'reeve/agent';

export default async function publish(_input: unknown, ctx: AgentContext) {
  const draft = ctx.steps['draft'] as { text: string } | undefined;
  const channel = (ctx.approval?.input as { channel?: string } | undefined)?.channel ?? 'the default channel';
  return { published: draft?.text ?? '', channel, approvedBy: ctx.approval?.by ?? null };
}
