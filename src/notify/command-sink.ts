import { execa } from 'execa';
import type { NotifySink } from '../ports/notify-sink.ts';
import type { NotifyEvent } from '../protocol/notification.ts';
import { redactSecrets, shortMessage } from './redact.ts';

/** How long a command gets after SIGTERM (a timeout, a stop) before SIGKILL. */
const KILL_GRACE_MS = 2_000;

/**
 * A command: argv run without a shell, the notification JSON on stdin, `REEVE_NOTIFICATION_ID`
 * and `REEVE_EVENT` in its environment (plus the node's allow-listed variables). Exit 0 is
 * delivered; any other exit, a signal or the delivery timeout is a failure retried later.
 */
export function createCommandSink(key: string, events: ReadonlySet<NotifyEvent>, argv: readonly string[], options: { envAllowList: readonly string[]; secrets: readonly string[] }): NotifySink {
  const [program, ...args] = argv;
  const label = `command ${program}`;
  const fail = (message: string) => new Error(shortMessage(`${label}: ${redactSecrets(message, options.secrets)}`));
  return {
    key,
    label,
    events,
    async send(body, notification, signal) {
      const env: Record<string, string> = {};
      for (const name of options.envAllowList) if (process.env[name] !== undefined) env[name] = process.env[name];
      const result = await execa(program!, args, {
        input: body,
        env: { ...env, REEVE_NOTIFICATION_ID: notification.id, REEVE_EVENT: notification.event },
        extendEnv: false,
        reject: false,
        cancelSignal: signal,
        forceKillAfterDelay: KILL_GRACE_MS,
        stdout: 'ignore',
        stderr: 'pipe',
        maxBuffer: 64 * 1024,
      });
      if (result.exitCode === 0 && !result.failed) return;
      const stderr = typeof result.stderr === 'string' ? result.stderr.split('\n').filter(Boolean).slice(-3).join(' | ') : '';
      const how = result.isCanceled ? (signal.reason instanceof Error && signal.reason.name === 'TimeoutError' ? 'timed out' : 'stopped')
        : result.exitCode === undefined ? (result.code === 'ENOENT' ? `not found (check PATH or use a path)` : result.signal ? `killed by ${result.signal}` : result.shortMessage)
        : `exit ${result.exitCode}`;
      throw fail(`${how}${stderr ? `: ${stderr}` : ''}`);
    },
  };
}
