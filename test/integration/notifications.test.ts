import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { notificationSchema } from '../../src/protocol/notification.ts';
import { statusReport } from '../../src/views/status-report.ts';
import { fixtureAgent, startTestNode, waitForState, type TestNode } from '../support/test-node.ts';
import { startReceiver, waitFor, type Receiver } from '../support/webhook-receiver.ts';
import { tempDir } from '../support/temp-dir.ts';

const appendStdin = fileURLToPath(new URL('../fixtures/notify/append-stdin.mjs', import.meta.url));
const SECRET = 'whsec-5up3r-s3cret';
const TOKEN = 'Bearer hook-t0ken-value';

/** Every log line as text, errors with their messages, to look for secrets in. */
const logText = (t: TestNode) =>
  t.log.lines.map((l) => JSON.stringify({ msg: l.msg, ...l.fields }, (_k, v: unknown) => (v instanceof Error ? `${v.message} ${v.stack}` : v))).join('\n');

const fast = { firstDelayMs: 50, maxDelayMs: 200, pollIntervalMs: 50 };

describe('notifications from a real embedded node to a real HTTP receiver', () => {
  let t: TestNode | undefined;
  let receiver: Receiver | undefined;
  afterEach(async () => {
    await t?.dispose();
    await receiver?.stop();
    t = undefined;
    receiver = undefined;
  });

  it('sends exactly the events of a budget-cap failure, a wait for approval, a breaker outage and a quarantine, signed, to a webhook and a command', { timeout: 60_000 }, async () => {
    receiver = await startReceiver({ secret: SECRET });
    const tmp = tempDir('reeve-notify-');
    const commandLog = join(tmp.path, 'command.jsonl');
    t = await startTestNode({
      // Two worker threads: each one compiles the TypeScript agents once when it starts.
      node: { concurrency: 8, threads: 2 },
      agents: {
        perm: { module: fixtureAgent('fails-permanently.ts'), retry: { permanent: { maxAttempts: 2 } } },
        gated: { steps: [{ name: 'draft', run: { module: fixtureAgent('routes.ts') } }, { name: 'publish', run: { module: fixtureAgent('echo.ts') } }] },
        quar: {
          steps: [
            { name: 'branch', run: { module: fixtureAgent('echo.ts') }, compensate: { module: fixtureAgent('undo-fails.ts') } },
            { name: 'build', run: { module: fixtureAgent('fails-permanently.ts') } },
          ],
          retry: { permanent: { maxAttempts: 1 } },
        },
        prov: { module: fixtureAgent('provider.ts'), retry: { transient: { maxAttempts: 100, baseMs: 1, maxMs: 5 } }, breaker: { threshold: 2, pauseMs: 300, maxPauseMs: 600 } },
      },
      notify: [
        { on: ['task.failed', 'task.quarantined', 'task.waiting', 'breaker.opened', 'breaker.closed'], webhook: { url: '', secret: SECRET, headers: { Authorization: TOKEN } } },
        { on: ['task.waiting'], command: [process.execPath, appendStdin, commandLog] },
      ].map((rule) => ('webhook' in rule ? { ...rule, webhook: { ...rule.webhook, url: receiver!.url } } : rule)),
      notifyDelivery: fast,
    });
    try {
      const { store } = t.node;
      const perm = (await store.submit({ kind: 'perm' })).task.id;
      const gated = (await store.submit({ kind: 'gated', input: {} })).task.id;
      const quar = (await store.submit({ kind: 'quar' })).task.id;
      const provs = [(await store.submit({ kind: 'prov', input: { dir: t.dir } })).task.id, (await store.submit({ kind: 'prov', input: { dir: t.dir } })).task.id];
      await waitForState(t.node, perm, ['failed']);
      await waitForState(t.node, gated, ['waiting']);
      await waitForState(t.node, quar, ['quarantined']);
      await waitFor(() => receiver!.unique().filter((d) => d.body.event === 'breaker.opened').length, (n) => n === 1, 20_000);
      writeFileSync(join(t.dir, 'provider-up'), '');
      for (const id of provs) await waitForState(t.node, id, ['succeeded'], 20_000);
      const expected = [
        ['task.failed', perm],
        ['task.waiting', gated],
        ['task.quarantined', quar],
        ['breaker.opened', 'prov'],
        ['breaker.closed', 'prov'],
      ];
      const seen = await waitFor(() => receiver!.unique().map((d) => [d.body.event, d.body.task?.id ?? d.body.breaker?.key]), (s) => s.length >= expected.length, 20_000);
      // Nothing more arrives later (no duplicate event under another id, no event not asked for).
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(receiver.unique().map((d) => [d.body.event, d.body.task?.id ?? d.body.breaker?.key]).sort()).toEqual([...expected].sort());
      expect(seen).toHaveLength(expected.length);

      const failed = receiver.unique().find((d) => d.body.event === 'task.failed')!;
      expect(failed.body).toMatchObject({ node: t.node.id, task: { id: perm, kind: 'perm', state: 'failed', attempts: { permanent: 2 }, error: { class: 'permanent', message: expect.stringContaining('bad input') } } });
      for (const d of receiver.requests) {
        expect(notificationSchema.safeParse(d.body).error).toBeUndefined();
        expect(d.headers['x-reeve-signature']).toBe(d.expectedSignature);
        expect(d.headers.authorization).toBe(TOKEN);
        expect(d.headers['content-type']).toBe('application/json');
      }
      const waiting = receiver.unique().find((d) => d.body.event === 'task.waiting')!;
      expect(waiting.body.task).toMatchObject({ id: gated, state: 'waiting', step: 'draft' });

      // The command sink got the waiting task's notification, the same id, on stdin.
      const lines = await waitFor(() => { try { return readFileSync(commandLog, 'utf8').trim().split('\n'); } catch { return []; } }, (l) => l.length >= 1, 10_000);
      expect(lines.map((l) => JSON.parse(l) as { body: { id: string }; event: string; id: string })).toEqual([{ body: waiting.body, event: 'task.waiting', id: waiting.body.id }]);
      expect(logText(t)).not.toContain(SECRET);
      expect(logText(t)).not.toContain('hook-t0ken-value');
    } finally {
      tmp.remove();
    }
  });

  it('keeps retrying while the receiver is down, shows it in status and metrics, and delivers once it is back', { timeout: 60_000 }, async () => {
    receiver = await startReceiver({ secret: SECRET });
    const url = receiver.url;
    await receiver.down();
    t = await startTestNode({
      agents: { perm: { module: fixtureAgent('fails-permanently.ts'), retry: { permanent: { maxAttempts: 1 } } } },
      notify: [{ on: ['task.failed'], webhook: { url, secret: SECRET, headers: { Authorization: TOKEN } } }],
      notifyDelivery: fast,
      http: { port: 0 },
    });
    const id = (await t.node.store.submit({ kind: 'perm' })).task.id;
    await waitForState(t.node, id, ['failed']);
    // Several failed rounds: the error is visible to `reeve status` in another process.
    await waitFor(() => t!.log.lines.filter((l) => l.msg === 'notification delivery failed; retrying').length, (n) => n >= 3, 10_000);
    const status = await statusReport(t.node.store, Date.now());
    expect(status.notifications).toMatchObject({ pending: 1, failed: 0, lastError: { event: 'task.failed', message: expect.stringContaining('ECONNREFUSED') } });
    expect(status.notifications.lastError!.message).not.toContain('/hooks/reeve');
    const metrics = await (await fetch(new URL('/metrics', t.node.dashboardUrl!))).text();
    expect(metrics).toMatch(/reeve_notifications_total\{event="task.failed",outcome="retried"\} [1-9]/);
    expect(metrics).toMatch(/reeve_notifications\{state="pending"\} 1/);

    await receiver.up();
    const [delivery] = await waitFor(() => receiver!.unique(), (u) => u.length === 1, 10_000);
    expect(delivery!.body).toMatchObject({ event: 'task.failed', task: { id } });
    expect(delivery!.headers['x-reeve-signature']).toBe(delivery!.expectedSignature);
    await waitFor(() => t!.node.store.notificationCounts(), (c) => c.pending === 0, 5_000);
    const after = await (await fetch(new URL('/metrics', t.node.dashboardUrl!))).text();
    expect(after).toMatch(/reeve_notifications_total\{event="task.failed",outcome="delivered"\} 1/);
    expect(logText(t)).not.toContain(SECRET);
    expect(logText(t)).not.toContain('hook-t0ken-value');
  });

  it('gives a notification up after giveUpAfterMs and reports it as failed', { timeout: 30_000 }, async () => {
    receiver = await startReceiver();
    receiver.mode = { status: 503 };
    t = await startTestNode({
      agents: { perm: { module: fixtureAgent('fails-permanently.ts'), retry: { permanent: { maxAttempts: 1 } } } },
      notify: [{ on: ['task.failed'], webhook: { url: receiver.url } }],
      notifyDelivery: { ...fast, giveUpAfterMs: 400 },
    });
    const id = (await t.node.store.submit({ kind: 'perm' })).task.id;
    await waitForState(t.node, id, ['failed']);
    const counts = await waitFor(() => t!.node.store.notificationCounts(), (c) => c.failed === 1, 10_000);
    expect(counts).toMatchObject({ pending: 0, failed: 1, lastError: { message: expect.stringMatching(/^gave up after \d+ attempts: webhook http:\/\/127\.0\.0\.1:\d+: HTTP 503/) } });
    const tries = receiver.requests.length;
    expect(tries).toBeGreaterThanOrEqual(2);
    expect(new Set(receiver.requests.map((d) => d.body.id)).size).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(receiver.requests.length).toBe(tries);
  });
});
