import { InvalidInputError } from '../errors.ts';
import type { Backend } from '../node/backend.ts';
import { rejectedEventSchema } from '../protocol/messages.ts';

/**
 * `submit --wait` in a cluster: a node's intake rejects a submission it cannot take (a kind no
 * live node runs, a bad body) with an event on `<prefix>.events.rejected` and a dead letter. No
 * record is ever written, so the wait would go on for ever: this ends it with the rejection
 * (INVALID_INPUT, exit 2), saying why and where the message went.
 */
export function watchRejection(backend: Pick<Backend, 'bus' | 'subjects'>, id: string): { signal: AbortSignal; stop(): void } {
  const controller = new AbortController();
  const subscription = backend.bus.subscribe(backend.subjects.rejected, (message) => {
    const parsed = rejectedEventSchema.safeParse(message.data);
    if (!parsed.success || parsed.data.id !== id) return;
    const { code, reason } = parsed.data;
    const path = code === 'UNKNOWN_KIND' ? 'kind' : 'submission';
    controller.abort(new InvalidInputError('task submission', [{ path, message: `task ${id} was rejected by the cluster (${code}): ${reason}; the message is kept as a dead letter (reeve dead-letters)` }]));
  });
  return { signal: controller.signal, stop: () => subscription.unsubscribe() };
}
