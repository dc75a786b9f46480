// Step 1 of the `ship` pipeline: "creates a branch" (a file in the workspace).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentContext } from 'reeve/agent';

export default async function branch(input: { name?: string } | undefined, ctx: AgentContext) {
  const name = input?.name ?? `reeve/${ctx.taskId}`;
  await writeFile(join(ctx.workspace, 'branch'), name);
  return { branch: name };
}
