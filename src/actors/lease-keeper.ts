import { toError } from '../errors.ts';
import type { Logger } from '../ports/logger.ts';
import type { SagaActor } from './saga-actor.ts';

/**
 * Renews the lease of every in-flight task while its run lives (module or command), so a slow
 * agent never loses its task; call `tick` every leaseTtlMs / 3. A renewal that finds the lease
 * taken over fences the actor (it kills its run); one that finds a cancel request passes it on.
 */
export async function renewLeases(inFlight: ReadonlyMap<string, SagaActor>, log: Logger): Promise<void> {
  await Promise.all(
    [...inFlight.values()].map((actor) =>
      actor.renewLease().catch((err: unknown) => {
        // A store hiccup on one task must not stop the others' renewals; the next tick retries.
        log.warn({ err: toError(err), taskId: actor.id }, 'lease renewal failed');
      }),
    ),
  );
}
