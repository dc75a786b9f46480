// Compensation of `branch`: runs when the pipeline finally fails or is cancelled.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentContext } from 'reeve/agent';

export default async function deleteBranch(_input: unknown, ctx: AgentContext) {
  await rm(join(ctx.workspace, 'branch'), { force: true });
  ctx.log.info({ branch: ctx.steps.branch }, 'branch deleted');
}
