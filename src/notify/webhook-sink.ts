import { createHmac } from 'node:crypto';
import type { NotifySink } from '../ports/notify-sink.ts';
import type { NotifyEvent } from '../protocol/notification.ts';
import { redactSecrets, shortMessage } from './redact.ts';

export interface WebhookTarget {
  url: string;
  secret?: string | undefined;
  headers?: Readonly<Record<string, string>> | undefined;
}

/** `sha256=<hex HMAC-SHA256 of the body>`, the value of `X-Reeve-Signature`. */
export function signature(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/**
 * A webhook: a POST of the notification JSON. 2xx is delivered; anything else, a network error
 * or no answer within the delivery timeout is a failure retried later. Redirects are not
 * followed (a signed body should not be re-sent to another host without the operator saying so).
 * Errors name the URL's origin only: a webhook URL often carries its token in the path.
 */
export function createWebhookSink(key: string, events: ReadonlySet<NotifyEvent>, target: WebhookTarget, secrets: readonly string[]): NotifySink {
  const origin = new URL(target.url).origin;
  const label = `webhook ${origin}`;
  const hidden = [...secrets, target.url, ...(target.secret ? [target.secret] : []), ...Object.values(target.headers ?? {})];
  const fail = (message: string) => new Error(shortMessage(`${label}: ${redactSecrets(message, hidden)}`));
  return {
    key,
    label,
    events,
    async send(body, notification, signal) {
      const headers: Record<string, string> = {
        ...target.headers,
        'content-type': 'application/json',
        'user-agent': 'reeve-notify',
        'x-reeve-event': notification.event,
        'x-reeve-notification-id': notification.id,
      };
      if (target.secret) headers['x-reeve-signature'] = signature(body, target.secret);
      let response: Response;
      try {
        response = await fetch(target.url, { method: 'POST', body, headers, signal, redirect: 'manual' });
      } catch (err) {
        if (signal.aborted) throw fail(signal.reason instanceof Error && signal.reason.name === 'TimeoutError' ? 'no answer in time (timed out)' : 'stopped');
        const cause = (err as { cause?: { code?: string; message?: string } }).cause;
        throw fail(cause?.code ?? cause?.message ?? (err as Error).message);
      }
      // Read the answer out so the connection can be reused; its content does not matter.
      const text = await response.text().catch(() => '');
      if (response.status < 200 || response.status > 299) throw fail(`HTTP ${response.status}${text ? ` ${text.slice(0, 200)}` : ''}`);
    },
  };
}
