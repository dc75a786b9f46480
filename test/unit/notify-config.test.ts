import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.ts';
import { parseConfig } from '../../src/config/load.ts';
import { notifyEvents } from '../../src/config/notify-schema.ts';
import { buildSinks, sinkKey } from '../../src/notify/sinks.ts';
import { breakerEvent } from '../../src/store/notifications.ts';

/** The issues (`path: message`) a config is refused with. */
function issues(raw: Record<string, unknown>, env: Record<string, string> = {}): string[] {
  try {
    parseConfig(raw, { baseDir: '/srv/app', env });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
  }
  throw new Error('the config was accepted');
}

const hook = { url: 'https://hooks.example.com/T0K3N/reeve' };

describe('the notify config', () => {
  it('defaults to no rules and to retries after 1 s doubling up to 30 s, given up after a day', () => {
    const config = parseConfig({}, { baseDir: '/srv/app' });
    expect(config.notify).toEqual([]);
    expect(config.notifyDelivery).toEqual({ firstDelayMs: 1000, maxDelayMs: 30_000, giveUpAfterMs: 86_400_000, timeoutMs: 10_000, pollIntervalMs: 500 });
  });

  it('takes webhook and command rules, and resolves a ./command against the config file', () => {
    const config = parseConfig(
      { notify: [{ on: ['task.failed'], webhook: { ...hook, secret: 's3cret', headers: { Authorization: 'Bearer x' } } }, { on: ['task.waiting', 'node.dead'], command: ['./notify.sh', '--quiet'] }] },
      { baseDir: '/srv/app' },
    );
    expect(config.notify).toEqual([
      { on: ['task.failed'], webhook: { ...hook, secret: 's3cret', headers: { Authorization: 'Bearer x' } } },
      { on: ['task.waiting', 'node.dead'], command: ['/srv/app/notify.sh', '--quiet'] },
    ]);
    expect(notifyEvents(config.notify)).toEqual(['task.failed', 'task.waiting', 'node.dead']);
  });

  it('names the dotted field and the fix for each mistake', () => {
    expect(issues({ notify: [{ on: ['task.faild'], webhook: hook }] })).toEqual([
      'notify.0.on.0: expected one of "task.failed", "task.quarantined", "task.waiting", "task.succeeded", "breaker.opened", "breaker.closed", "node.dead", "deadletter", got "task.faild"',
    ]);
    expect(issues({ notify: [{ on: [], webhook: hook }] })).toEqual([expect.stringMatching(/^notify\.0\.on: expected at least one event: task\.failed, /)]);
    expect(issues({ notify: [{ on: ['task.failed'] }] })).toEqual([expect.stringMatching(/^notify\.0: a notification rule needs exactly one of "webhook" or "command", found none/)]);
    expect(issues({ notify: [{ on: ['task.failed'], webhook: hook, command: ['x'] }] })).toEqual([
      'notify.0: a notification rule needs exactly one of "webhook" or "command", found "webhook" and "command"; keep one of them (to notify both, write two rules)',
    ]);
    expect(issues({ notify: [{ on: ['task.failed'], webhook: { ...hook, secrte: 'x' } }] })).toEqual(['notify.0.webhook.secrte: unknown key "secrte" (did you mean "secret"?)']);
    expect(issues({ notify: [{ on: ['task.failed'], command: [] }] })).toEqual([expect.stringMatching(/^notify\.0\.command: expected at least the program/)]);
    expect(issues({ notifyDelivery: { firstDelayMs: 5000, maxDelayMs: 1000 } })).toEqual(['notifyDelivery.maxDelayMs: maxDelayMs must be at least firstDelayMs']);
    expect(issues({ notifyDelivery: { timeoutMs: '10s' } })).toEqual(['notifyDelivery.timeoutMs: expected a positive integer number of milliseconds, got "10s"']);
  });

  it('never echoes a webhook URL, secret or header value it refuses', () => {
    const [issue] = issues({ notify: [{ on: ['task.failed'], webhook: { url: 'ftp://hooks.example.com/T0K3N' } }] });
    expect(issue).toBe('notify.0.webhook.url: expected an http:// or https:// URL such as "https://hooks.example.com/reeve"');
    expect(issues({ notify: [{ on: ['task.failed'], webhook: { ...hook, secret: 987654321, headers: { 'X-Key': 123456789 } } }] })).toEqual([
      'notify.0.webhook.secret: expected a string (the value is not shown: it is a secret)',
      'notify.0.webhook.headers.X-Key: expected a string (the value is not shown: header values may be secrets)',
    ]);
  });

  it('takes delivery settings from the environment', () => {
    const config = parseConfig({}, { baseDir: '/srv/app', env: { REEVE_NOTIFYDELIVERY__MAXDELAYMS: '5000' } });
    expect(config.notifyDelivery.maxDelayMs).toBe(5000);
  });
});

describe('notification sinks', () => {
  it('gives a target one sink whatever rules name it, with their events merged, keyed by the target only', () => {
    const config = parseConfig(
      { notify: [{ on: ['task.failed'], webhook: { ...hook, secret: 'a' } }, { on: ['task.waiting'], webhook: { ...hook, secret: 'b' } }, { on: ['task.failed'], command: ['notify-send'] }] },
      { baseDir: '/srv/app' },
    );
    const sinks = buildSinks(config.notify, { envAllowList: [], secrets: [] });
    expect(sinks.map((s) => [s.label, [...s.events]])).toEqual([
      ['webhook https://hooks.example.com', ['task.failed', 'task.waiting']],
      ['command notify-send', ['task.failed']],
    ]);
    expect(sinks[0]!.key).toBe(sinkKey(config.notify[1]!));
    expect(sinks[0]!.key).not.toBe(sinks[1]!.key);
  });
});

describe('breaker events', () => {
  it('is opened once per outage (closed → open), closed when it ends, and nothing for probes in between', () => {
    expect(breakerEvent('closed', 'open')).toBe('breaker.opened');
    expect(breakerEvent('open', 'halfOpen')).toBeUndefined();
    expect(breakerEvent('halfOpen', 'open')).toBeUndefined();
    expect(breakerEvent('halfOpen', 'closed')).toBe('breaker.closed');
    expect(breakerEvent('closed', 'closed')).toBeUndefined();
  });
});
