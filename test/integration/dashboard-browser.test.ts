import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiStub, type ApiStub } from '../support/api-stub.ts';
import { openBrowser } from '../support/browser.ts';
import { tempDir } from '../support/temp-dir.ts';
import { fixtureAgent, startTestNode, waitForState, type TestNode } from '../support/test-node.ts';

/**
 * The dashboard in headless Chromium against a real embedded node. The API is the test stub of
 * test/support/api-stub.ts (the routes of DESIGN.md) until src/http's server lands. Screenshots
 * of each page go to a temp dir whose path the test prints.
 */
const TOKEN = 'dash-test-token-0123456789';
let t: TestNode;
let stub: ApiStub;
let browser: Awaited<ReturnType<typeof openBrowser>>;
const shots = tempDir('reeve-dashboard-shots-');
const requests: Array<{ url: string; auth: string | undefined; body: string | null }> = [];

async function submit(body: Record<string, unknown>) {
  const res = await fetch(`${stub.url}/api/v1/tasks`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { task: { id: string } }).task;
}

async function newPage(): Promise<Page> {
  const page = await browser.context.newPage();
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/')) requests.push({ url: r.url(), auth: r.headers().authorization, body: r.postData() });
  });
  return page;
}

const row = (page: Page, id: string) => page.locator(`#tasks tbody tr[data-id="${id}"]`);

beforeAll(async () => {
  t = await startTestNode({
    agents: {
      echo: { module: fixtureAgent('echo.ts') },
      sleepy: { module: fixtureAgent('reports-progress.ts') },
      gated: { steps: [{ name: 'draft', run: { module: fixtureAgent('routes.ts') } }, { name: 'publish', run: { module: fixtureAgent('echo.ts') } }] },
      noisy: { command: ['sh', '-c', 'echo "building step 1"; echo "warning: flaky network" >&2; exit 3'], retry: { permanent: { maxAttempts: 1 } } },
    },
  });
  stub = await startApiStub(t.node, { token: TOKEN, logDir: join(t.config.node.dataDir, 'logs') });
  browser = await openBrowser();
  console.log(`dashboard screenshots: ${shots.path}`);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await stub?.close();
  await t?.dispose();
});

describe('dashboard in a browser', () => {
  it('keeps the token from the URL fragment, sends it on every API call, and shows submitted tasks appear and change state live', async () => {
    const page = await newPage();
    await page.goto(`${stub.url}/#token=${TOKEN}`);
    await expect.poll(() => page.locator('#live').textContent()).toBe('live');
    // The token left the address bar for sessionStorage.
    expect(page.url()).toBe(`${stub.url}/`);
    expect(await page.evaluate('sessionStorage.getItem("reeve.token")')).toBe(TOKEN);

    const slow = await submit({ id: 'live-sleepy', kind: 'sleepy', input: { ms: 4000 } });
    await row(page, slow.id).waitFor();
    await page.locator(`#tasks tbody tr[data-id="${slow.id}"][data-state="running"]`).waitFor();
    // Heartbeat progress ({ pct }) shows as a bar while it runs.
    await expect.poll(() => row(page, slow.id).locator('.bar-label').textContent(), { timeout: 10_000 }).toMatch(/^\d+%$/);
    await page.screenshot({ path: join(shots.path, 'overview-running.png'), fullPage: true });
    for (let i = 0; i < 3; i++) await submit({ id: `live-echo-${i}`, kind: 'echo', input: { i } });
    await page.locator(`#tasks tbody tr[data-id="live-echo-2"][data-state="succeeded"]`).waitFor();
    await page.locator(`#tasks tbody tr[data-id="${slow.id}"][data-state="succeeded"]`).waitFor();
    // Newest first, and the page was never reloaded: the rows came over the event stream.
    expect(await page.locator('#tasks tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-id')))).toEqual(['live-echo-2', 'live-echo-1', 'live-echo-0', 'live-sleepy']);
    expect(await row(page, 'live-echo-0').locator('td').nth(1).textContent()).toBe('echo');
    await expect.poll(() => page.locator('#counts [data-state="succeeded"] .n').textContent()).toBe('4');
    await expect.poll(() => page.locator('#nodes tr[data-node] .badge').first().textContent()).toBe('up');

    // The filter asks the server for that kind only.
    await page.selectOption('#f-state', 'succeeded');
    await page.fill('#f-kind', 'sleepy');
    await expect.poll(() => page.locator('#tasks tbody tr').count()).toBe(1);
    expect(page.url()).toBe(`${stub.url}/?state=succeeded&kind=sleepy`);
    expect(requests.some((r) => r.url.endsWith('/api/v1/tasks?limit=50&state=succeeded&kind=sleepy'))).toBe(true);
    await page.screenshot({ path: join(shots.path, 'overview.png'), fullPage: true });

    expect(requests.some((r) => r.url.endsWith('/api/v1/events'))).toBe(true);
    expect(requests.filter((r) => r.auth !== `Bearer ${TOKEN}`)).toEqual([]);
    await page.close();
  }, 60_000);

  it('opens a task page from its row and approves a waiting task with input from the page', async () => {
    const page = await newPage();
    await page.goto(`${stub.url}/#token=${TOKEN}`);
    await submit({ id: 'needs-ok', kind: 'gated', input: {} });
    await waitForState(t.node, 'needs-ok', ['waiting']);
    await page.locator('#tasks tbody tr[data-id="needs-ok"][data-state="waiting"]').waitFor();
    await row(page, 'needs-ok').locator('td').nth(1).click();
    await page.waitForURL(`${stub.url}/tasks/needs-ok`);
    await page.locator('#task-state .badge', { hasText: 'waiting' }).waitFor();
    // Only what a waiting task allows.
    expect(await page.locator('#actions button').allTextContents()).toEqual(['Approve', 'Reject', 'Cancel task']);
    expect(await page.locator('#history tbody tr').count()).toBeGreaterThanOrEqual(3);
    await page.screenshot({ path: join(shots.path, 'task-waiting.png'), fullPage: true });

    await page.click('#do-approve');
    await page.fill('#f-input', '{"approved": true}');
    await page.fill('#f-reason', 'looks good');
    await page.screenshot({ path: join(shots.path, 'task-approve-form.png'), fullPage: true });
    await page.click('#confirm-approve');
    await page.locator('#task-state .badge', { hasText: 'succeeded' }).waitFor({ timeout: 15_000 });
    const approval = requests.find((r) => r.url.endsWith('/api/v1/tasks/needs-ok/approve'));
    expect(JSON.parse(approval?.body ?? 'null')).toEqual({ input: { approved: true }, reason: 'looks good' });
    expect((await t.node.store.get('needs-ok'))?.history.map((h) => h.to)).toContain('succeeded');
    expect(await page.locator('#actions button').count()).toBe(0);
    await page.locator('#outputs summary', { hasText: 'publish' }).waitFor();
    await page.screenshot({ path: join(shots.path, 'task-succeeded.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('shows a failed command run with its log tail and the retry button, and retries it', async () => {
    const page = await newPage();
    await page.goto(`${stub.url}/#token=${TOKEN}`);
    await submit({ id: 'noisy-1', kind: 'noisy' });
    await waitForState(t.node, 'noisy-1', ['failed']);
    await page.goto(`${stub.url}/tasks/noisy-1`);
    await page.locator('#task-state .badge', { hasText: 'failed' }).waitFor();
    await expect.poll(() => page.locator('#log').textContent()).toContain('building step 1');
    expect(await page.locator('#log').textContent()).toContain('warning: flaky network');
    expect(await page.locator('#actions button').allTextContents()).toEqual(['Retry']);
    expect(await page.locator('#attempts .stat').first().textContent()).toBe('0transient');
    await page.screenshot({ path: join(shots.path, 'task-failed.png'), fullPage: true });
    await page.click('#do-retry');
    await page.click('#confirm-retry');
    await expect.poll(async () => (await t.node.store.get('noisy-1'))?.history.filter((h) => h.to === 'queued').length).toBeGreaterThanOrEqual(2);
    await page.close();
  }, 60_000);

  it('shows a drained node as drained (not dead), a silent one as dead, failing preflight, and dead letters with their whole body', async () => {
    const now = Date.now();
    const base = { capacity: 4, running: 0, startedAt: now - 60_000, pid: 1, host: 'elsewhere' };
    await t.node.store.recordNode({ ...base, id: 'drained-node', incarnation: 'a1', state: 'stopped', lastSeenAt: now - 30_000 });
    await t.node.store.recordNode({ ...base, id: 'lost-node', incarnation: 'b1', state: 'up', lastSeenAt: now - 30_000 });
    await t.node.store.recordNode({ ...base, id: 'leaving-node', incarnation: 'c1', state: 'draining', running: 2, lastSeenAt: now + 60_000 });
    await t.node.store.putPreflight({ kind: 'claude', ok: false, reason: 'claude: command not found', checkedAt: now });
    await t.node.store.addDeadLetter({ source: 'nats:reeve.submit', code: 'INVALID_INPUT', reason: 'kind: must be 1-64 characters', payload: '{"kind":"no such kind!","input":{"big":"' + 'x'.repeat(300) + '"}}' });
    const page = await newPage();
    await page.goto(`${stub.url}/#token=${TOKEN}`);
    const nodeState = (id: string) => page.locator(`#nodes tr[data-node="${id}"] .badge`).textContent();
    await expect.poll(() => nodeState('drained-node')).toBe('drained');
    expect(await nodeState('lost-node')).toBe('dead');
    expect(await nodeState('leaving-node')).toBe('draining');
    expect(await page.locator('#preflight').textContent()).toContain('claude: command not found');
    await page.locator('#dead-letters li', { hasText: 'INVALID_INPUT' }).waitFor();
    await page.locator('#dead-letters li button').first().click();
    await expect.poll(() => page.locator('#dead-letters pre').first().textContent()).toContain('x'.repeat(300));
    await page.screenshot({ path: join(shots.path, 'overview-panels.png'), fullPage: true });
    await page.close();
  }, 60_000);

  it('stays paged with 10,000 tasks: 50 rows a page, a burst of 10,000 events folds into few page reads, Older walks the cursor', async () => {
    const page = await newPage();
    await page.goto(`${stub.url}/#token=${TOKEN}`);
    await expect.poll(() => page.locator('#live').textContent()).toBe('live');
    const before = requests.length;
    // A kind no node runs, so they stay queued; each submit is a task event on the stream.
    for (let i = 0; i < 10_000; i++) await t.node.store.submit({ id: `park-${String(i).padStart(5, '0')}`, kind: 'parked' });
    await expect.poll(() => page.locator('#counts [data-state="queued"] .n').textContent(), { timeout: 20_000 }).toBe('10000');
    await expect.poll(() => page.locator('#tasks tbody tr').first().getAttribute('data-id'), { timeout: 10_000 }).toBe('park-09999');
    expect(await page.locator('#tasks tbody tr').count()).toBe(50);
    const listReads = requests.slice(before).filter((r) => r.url.includes('/api/v1/tasks?')).length;
    expect(listReads).toBeLessThan(200);
    await page.screenshot({ path: join(shots.path, 'overview-10000.png'), fullPage: true });

    await page.click('#counts [data-state="queued"]');
    await expect.poll(() => page.url()).toBe(`${stub.url}/?state=queued`);
    await page.click('#next');
    await expect.poll(() => page.locator('#page-info').textContent()).toBe('page 2 · 51–100');
    await page.click('#next');
    await expect.poll(() => page.locator('#page-info').textContent()).toBe('page 3 · 101–150');
    expect(await page.locator('#tasks tbody tr').first().getAttribute('data-id')).toBe('park-09899');
    await page.click('#prev');
    await expect.poll(() => page.locator('#tasks tbody tr').first().getAttribute('data-id')).toBe('park-09949');
    await page.close();
  }, 120_000);
});
