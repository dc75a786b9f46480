import type { Socket } from 'node:net';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';

/** The client's socket (internal to nats.js: what src/transport/coalesced-writes.ts corks). */
export function socketOf<S extends Socket = Socket>(nc: NatsConnection): S {
  return (nc as unknown as { protocol: { transport: { socket: S } } }).protocol.transport.socket;
}

/**
 * Publishes once on a quiet connection and reports how corked the socket is right after the
 * client's flush microtask, and one event-loop turn later (coalesced writes: 1, then 0).
 */
export async function corkedAcrossOneTurn(nc: NatsConnection, subject: string): Promise<{ during: number; after: number }> {
  await nc.flush();
  await nextTurn();
  nc.publish(subject, '');
  await Promise.resolve(); // the client's flush microtask
  await Promise.resolve();
  const during = socketOf(nc).writableCorked;
  await nextTurn();
  return { during, after: socketOf(nc).writableCorked };
}
