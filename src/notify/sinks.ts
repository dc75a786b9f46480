import { createHash } from 'node:crypto';
import type { NotifyRule } from '../config/schema.ts';
import type { NotifySink } from '../ports/notify-sink.ts';
import type { NotifyEvent } from '../protocol/notification.ts';
import { createCommandSink } from './command-sink.ts';
import { createWebhookSink } from './webhook-sink.ts';

/** A sink's key: the hash of its target (URL or argv), so a config reload keeps what was delivered where. */
export function sinkKey(rule: NotifyRule): string {
  const target = 'webhook' in rule ? { webhook: rule.webhook.url } : { command: rule.command };
  return createHash('sha256').update(JSON.stringify(target)).digest('hex').slice(0, 16);
}

/**
 * The sinks of the `notify` config, one per target: rules naming the same URL or argv share a
 * sink (their events merged; the first rule's secret and headers apply), so an event is sent to a
 * target once. `secrets` (the config's) are redacted from their errors too.
 */
export function buildSinks(rules: readonly NotifyRule[], options: { envAllowList: readonly string[]; secrets: readonly string[] }): NotifySink[] {
  const byKey = new Map<string, { rule: NotifyRule; events: Set<NotifyEvent> }>();
  for (const rule of rules) {
    const key = sinkKey(rule);
    const seen = byKey.get(key);
    if (seen) for (const event of rule.on) seen.events.add(event);
    else byKey.set(key, { rule, events: new Set(rule.on) });
  }
  return [...byKey].map(([key, { rule, events }]) =>
    'webhook' in rule ? createWebhookSink(key, events, rule.webhook, options.secrets) : createCommandSink(key, events, rule.command, options),
  );
}
