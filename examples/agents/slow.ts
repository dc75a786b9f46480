// A long run that reports progress with ctx.heartbeat and stops cleanly on cancel.
import type { AgentContext } from 'reeve/agent';

export default async function slow(input: { seconds?: number } | undefined, ctx: AgentContext) {
  const seconds = input?.seconds ?? 10;
  for (let i = 1; i <= seconds; i++) {
    if (ctx.signal.aborted) return { stoppedAt: i };
    await new Promise((resolve) => setTimeout(resolve, 1000));
    ctx.heartbeat({ done: i, of: seconds });
  }
  return { seconds };
}
