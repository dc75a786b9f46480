import type { Notification, NotifyEvent } from '../protocol/notification.ts';

/** Where notifications go: a webhook or a command (src/notify/), built from the `notify` config. */
export interface NotifySink {
  /**
   * Stable while the target stays the same (a hash of the URL or argv, never of a secret): an
   * outbox entry remembers which keys already have it, so a retry skips them.
   */
  readonly key: string;
  /** For logs and errors: no secret in it (a webhook's origin, a command's program). */
  readonly label: string;
  readonly events: ReadonlySet<NotifyEvent>;
  /**
   * Delivers `body` (the notification's JSON). Throws on failure, with a message that holds no
   * secret (no signing secret, header value, or the path and query of a webhook URL).
   */
  send(body: string, notification: Notification, signal: AbortSignal): Promise<void>;
}
