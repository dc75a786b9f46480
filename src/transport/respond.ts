import type { Bus, BusMessage } from '../ports/bus.ts';

/**
 * Answers a request received through `subscribe`: replying is publishing to `message.reply`,
 * on either bus. Returns false (and sends nothing) when the message was not a request.
 */
export function respond(bus: Bus, message: BusMessage, data: unknown): boolean {
  if (!message.reply) return false;
  bus.publish(message.reply, data);
  return true;
}
