// Fails transiently (like a rate-limited provider) on its first two attempts, then succeeds.
// Watch it with `reeve show ID`: two transient failures, backoff, then succeeded.
import { TransientError, type AgentContext } from 'reeve/agent';

export default async function flaky(input: { failures?: number } | undefined, ctx: AgentContext) {
  const failures = input?.failures ?? 2;
  if (ctx.attempt <= failures) {
    throw new TransientError(`429 Too Many Requests (simulated, attempt ${ctx.attempt})`, { retryAfterMs: 500 });
  }
  return { ok: true, attempts: ctx.attempt };
}
