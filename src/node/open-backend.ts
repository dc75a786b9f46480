/**
 * Opens the backend that `store.type` names: embedded (embedded-backend.ts) or cluster
 * (cluster-backend.ts, loaded on demand). Both give the same ports (the seam: backend.ts).
 */
import type { Backend, BackendOptions } from './backend.ts';
import { openEmbedded } from './embedded-backend.ts';

export async function openBackend(options: BackendOptions): Promise<Backend> {
  if (options.config.store.type !== 'nats') return openEmbedded(options);
  // Loaded on demand: the NATS client libraries cost embedded users' every CLI command otherwise.
  const { openCluster } = await import('./cluster-backend.ts');
  return openCluster(options);
}
