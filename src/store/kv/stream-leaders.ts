import type { JetStreamManager } from '@nats-io/jetstream';
import { ErrorCode, ReeveError, toError } from '../../errors.ts';

/**
 * Resolves when every stream has a leader (a stream of a single server always has one).
 * STORE_UNAVAILABLE otherwise, to be retried (src/cluster/jetstream-ready.ts): until a replicated stream
 * has elected its leader, nothing answers on its subjects.
 */
export async function expectStreamLeaders(jsm: JetStreamManager, streams: readonly string[]): Promise<void> {
  for (const stream of streams) {
    let info;
    try {
      info = await jsm.streams.info(stream);
    } catch (err) {
      throw new ReeveError(ErrorCode.StoreUnavailable, `reading stream ${stream} failed: ${toError(err).message}`, { cause: err });
    }
    if (info.cluster && !info.cluster.leader) {
      throw new ReeveError(ErrorCode.StoreUnavailable, `stream ${stream} has no leader yet; check that a majority of its ${info.config.num_replicas} servers run with JetStream`, {
        data: { stream },
      });
    }
  }
}
