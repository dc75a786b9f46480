import { z } from 'zod';
import { NOTIFY_EVENTS, type NotifyEvent } from '../protocol/notification.ts';
import { commandField, ms, oneOf, show } from './fields.ts';
import { oneOfByKey } from './one-of-by-key.ts';

/**
 * `notify`: who hears about what (DESIGN.md, "Human steps and notifications"). Each rule names
 * the events it wants and one sink: a webhook (POST of the JSON, signed when `secret` is set)
 * or a command (argv, no shell, the JSON on stdin).
 */

const urlField = z
  .string({ error: (issue) => `expected a URL such as "https://hooks.example.com/reeve", got ${show(issue.input)}` })
  .refine(
    (value) => {
      try {
        return ['http:', 'https:'].includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    // The value is not shown: a webhook URL often carries a token in its path.
    { message: 'expected an http:// or https:// URL such as "https://hooks.example.com/reeve"' },
  );

const eventsField = z
  .array(oneOf(NOTIFY_EVENTS), { error: (issue) => `expected an array of events such as ["task.failed", "task.waiting"], got ${show(issue.input)}` })
  .min(1, `expected at least one event: ${NOTIFY_EVENTS.join(', ')}`);

const webhookSchema = z.strictObject({
  url: urlField,
  /** Signs each body: `X-Reeve-Signature: sha256=<hex HMAC-SHA256 of the body>`. Never logged. */
  secret: z.string({ error: 'expected a string (the value is not shown: it is a secret)' }).min(1, 'expected a non-empty secret (or leave "secret" out)').optional(),
  /** Extra request headers (an Authorization header, say). Their values are never logged. */
  headers: z.record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, 'expected an HTTP header name'), z.string({ error: 'expected a string (the value is not shown: header values may be secrets)' })).optional(),
});

export const notifyRuleSchema = oneOfByKey(
  'a notification rule',
  {
    webhook: z.strictObject({ on: eventsField, webhook: webhookSchema }),
    command: z.strictObject({ on: eventsField, command: commandField }),
  },
  { webhook: '{ "url": "https://hooks.example.com/reeve" }', command: '["./notify.sh"]' },
  ' (to notify both, write two rules)',
);

export const notifySchema = z.array(notifyRuleSchema, { error: (issue) => `expected an array of rules such as [{ "on": ["task.failed"], "webhook": { "url": "https://…" } }], got ${show(issue.input)}` });

/** How the outbox is delivered. The defaults retry within a second, and at least every 30 s. */
export const notifyDeliverySchema = z
  .strictObject({
    /** Delay before the first retry of a failed delivery; each retry doubles it. */
    firstDelayMs: ms().default(1_000),
    /** Longest delay between two retries. */
    maxDelayMs: ms().default(30_000),
    /** A notification still undelivered this long after its event is given up (shown as failed in `reeve status`). */
    giveUpAfterMs: ms().default(24 * 60 * 60 * 1000),
    /** One delivery (an HTTP request, a command run) may take this long. */
    timeoutMs: ms().default(10_000),
    /** How often the outbox is looked at when nothing woke it. */
    pollIntervalMs: ms().default(500),
  })
  .refine((d) => d.maxDelayMs >= d.firstDelayMs, { message: 'maxDelayMs must be at least firstDelayMs', path: ['maxDelayMs'] });

export type NotifyRule = z.output<typeof notifyRuleSchema>;

/** The events some rule asks for: what a store opened with this config records. */
export function notifyEvents(rules: readonly NotifyRule[]): NotifyEvent[] {
  return [...new Set(rules.flatMap((rule) => rule.on))];
}
export type NotifyDelivery = z.output<typeof notifyDeliverySchema>;
