import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowser } from '../support/browser.ts';
import { tempDir } from '../support/temp-dir.ts';
import { fixtureAgent, startTestNode, waitForState, type TestNode } from '../support/test-node.ts';

/**
 * The dashboard in headless Chromium against a real embedded node serving its own HTTP API
 * (`http.port: 0`): tasks are submitted through the API, and every button goes through the real
 * routes to the store. Screenshots of each page go to a temp dir whose path the test prints.
 */
const TOKEN = 'dash-test-token-0123456789';
let t: TestNode;
let base: string;
let browser: Awaited<ReturnType<typeof openBrowser>>;
const shots = tempDir('reeve-dashboard-shots-');
const requests: Array<{ method: string; url: string; auth: string | undefined; body: string | null }> = [];

async function submit(body: Record<string, unknown>) {
  const res = await fetch(`${base}/api/v1/tasks`, { method: 'POST', headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { task: { id: string } }).task;
}

async function newPage(path = '/'): Promise<Page> {
  const page = await browser.context.newPage();
  page.on('request', (r) => {
    if (r.url().includes('/api/v1/')) requests.push({ method: r.method(), url: r.url(), auth: r.headers().authorization, body: r.postData() });
  });
  await page.goto(`${base}${path}#token=${TOKEN}`);
  await expect.poll(() => page.locator('#live').textContent()).toBe('live');
  return page;
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(shots.path, `${name}.png`), fullPage: true });
const row = (page: Page, id: string) => page.locator(`#tasks tbody tr[data-id="${id}"]`);
const rowIn = (page: Page, id: string, state: string) => page.locator(`#tasks tbody tr[data-id="${id}"][data-state="${state}"]`).waitFor({ timeout: 15_000 });
const taskState = (page: Page, state: string) => page.locator('#task-state .badge', { hasText: state }).waitFor({ timeout: 15_000 });
const posted = (path: string) => requests.filter((r) => r.method === 'POST' && new URL(r.url).pathname === `/api/v1/tasks/${path}`).map((r) => JSON.parse(r.body ?? 'null') as unknown);

beforeAll(async () => {
  t = await startTestNode({
    http: { port: 0, token: TOKEN },
    agents: {
      echo: { module: fixtureAgent('echo.ts') },
      sleepy: { module: fixtureAgent('reports-progress.ts') },
      hang: { module: fixtureAgent('waits-for-abort.ts') },
      gated: {
        steps: [
          { name: 'prepare', run: { module: fixtureAgent('echo.ts') }, compensate: { module: fixtureAgent('undo.ts') } },
          { name: 'draft', run: { module: fixtureAgent('routes.ts') } },
          { name: 'publish', run: { module: fixtureAgent('echo.ts') } },
        ],
      },
      stepped: {
        steps: [
          { name: 'loop', run: { module: fixtureAgent('counts-visits.ts') } },
          { name: 'big', run: { module: fixtureAgent('echo.ts') } },
          { name: 'fail', run: { module: fixtureAgent('fails-permanently.ts') } },
          { name: 'after', run: { module: fixtureAgent('echo.ts') } },
        ],
        retry: { permanent: { maxAttempts: 1 } },
      },
      noisy: { command: ['sh', '-c', 'echo "building step 1"; echo "warning: flaky network" >&2; exit 3'], retry: { permanent: { maxAttempts: 1 } } },
    },
  });
  base = t.node.dashboardUrl!.slice(0, t.node.dashboardUrl!.indexOf('/#'));
  browser = await openBrowser();
  console.log(`dashboard screenshots: ${shots.path}`);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.dispose();
});

describe('dashboard in a browser, on a real node', () => {
  it('keeps the token from the URL fragment, sends it on every API call, and shows tasks submitted through the API appear and change state live', async () => {
    const page = await newPage();
    // The token left the address bar for sessionStorage.
    expect(page.url()).toBe(`${base}/`);
    expect(await page.evaluate('sessionStorage.getItem("reeve.token")')).toBe(TOKEN);

    // 6 s: the table re-reads a running page every 3 s, and progress is written once a second.
    const slow = await submit({ id: 'live-sleepy', kind: 'sleepy', input: { ms: 6000 } });
    await rowIn(page, slow.id, 'running');
    // Heartbeat progress ({ pct }) shows as a bar while it runs, and moves.
    await expect.poll(() => row(page, slow.id).locator('.bar-label').textContent(), { timeout: 10_000 }).toMatch(/^[1-9]\d*%$/);
    await shot(page, 'overview-running');
    for (let i = 0; i < 3; i++) await submit({ id: `live-echo-${i}`, kind: 'echo', input: { i } });
    await rowIn(page, 'live-echo-2', 'succeeded');
    await rowIn(page, slow.id, 'succeeded');
    // Newest first, and the page was never reloaded: the rows came over the event stream.
    expect(await page.locator('#tasks tbody tr').evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-id')))).toEqual(['live-echo-2', 'live-echo-1', 'live-echo-0', 'live-sleepy']);
    expect(await row(page, 'live-echo-0').locator('td').nth(1).textContent()).toBe('echo');
    await expect.poll(() => page.locator('#counts [data-state="succeeded"] .n').textContent()).toBe('4');
    await expect.poll(() => page.locator(`#nodes tr[data-node="${t.node.id}"] .badge`).textContent()).toBe('up');

    // The filter asks the server for that kind only.
    await page.selectOption('#f-state', 'succeeded');
    await page.fill('#f-kind', 'sleepy');
    await expect.poll(() => page.locator('#tasks tbody tr').count()).toBe(1);
    expect(page.url()).toBe(`${base}/?state=succeeded&kind=sleepy`);
    expect(requests.some((r) => r.url.endsWith('/api/v1/tasks?limit=50&state=succeeded&kind=sleepy'))).toBe(true);
    await shot(page, 'overview');

    expect(requests.some((r) => r.url.endsWith('/api/v1/events'))).toBe(true);
    expect(requests.filter((r) => r.auth !== `Bearer ${TOKEN}`)).toEqual([]);
    await page.close();
  }, 60_000);

  it('shows a running task with its progress and cancels it from its page', async () => {
    const page = await newPage();
    await submit({ id: 'stuck-1', kind: 'hang' });
    await rowIn(page, 'stuck-1', 'running');
    await row(page, 'stuck-1').locator('td').nth(1).click();
    await page.waitForURL(`${base}/tasks/stuck-1`);
    await taskState(page, 'running');
    expect(await page.locator('#actions button').allTextContents()).toEqual(['Cancel task']);
    await page.click('#do-cancel');
    await page.fill('#f-reason', 'not needed any more');
    await page.click('#confirm-cancel');
    await taskState(page, 'cancelled');
    expect(posted('stuck-1/cancel')).toEqual([{ reason: 'not needed any more' }]);
    await expect.poll(() => page.locator('#history').textContent()).toContain('cancel: not needed any more');
    // A cancelled task may be retried, nothing else.
    expect(await page.locator('#actions button').allTextContents()).toEqual(['Retry']);
    await shot(page, 'task-cancelled');

    await submit({ id: 'progress-1', kind: 'sleepy', input: { ms: 5000 } });
    await page.goto(`${base}/tasks/progress-1`);
    await taskState(page, 'running');
    await expect.poll(() => page.locator('#progress .bar-label').textContent(), { timeout: 10_000 }).toMatch(/^[1-9]\d*%$/);
    await shot(page, 'task-running');
    await taskState(page, 'succeeded');
    expect(await page.locator('#outputs pre').first().textContent()).toContain('"ran": 5000');
    await page.close();
  }, 60_000);

  it('opens a waiting task from its row and approves it from the page; rejects another with a reason and shows its compensations', async () => {
    const page = await newPage();
    await submit({ id: 'needs-ok', kind: 'gated', input: { title: 'release notes' } });
    await waitForState(t.node, 'needs-ok', ['waiting']);
    await rowIn(page, 'needs-ok', 'waiting');
    await row(page, 'needs-ok').locator('td').nth(1).click();
    await page.waitForURL(`${base}/tasks/needs-ok`);
    await taskState(page, 'waiting');
    // Only what a waiting task allows.
    expect(await page.locator('#actions button').allTextContents()).toEqual(['Approve', 'Reject', 'Cancel task']);
    expect(await page.locator('#history tbody tr').count()).toBeGreaterThanOrEqual(3);
    // The step it waits at is marked, the one after it not reached yet.
    expect(await page.locator('#outputs details summary').allTextContents()).toEqual(['prepare', 'draftwaiting']);
    expect(await page.locator('#outputs .step-line').allTextContents()).toEqual(['publishnot reached']);
    await shot(page, 'task-waiting');

    await page.click('#do-approve');
    expect(await page.locator('#decision textarea#f-input').count()).toBe(1);
    await page.fill('#f-reason', 'looks good');
    await shot(page, 'task-approve-form');
    await page.click('#confirm-approve');
    await taskState(page, 'succeeded');
    expect(posted('needs-ok/approve')).toEqual([{ reason: 'looks good' }]);
    expect((await t.node.store.get('needs-ok'))?.history.map((h) => h.to)).toContain('succeeded');
    expect(await page.locator('#actions button').count()).toBe(0);
    expect(await page.locator('#outputs').textContent()).toContain('release notes');
    await shot(page, 'task-succeeded');

    await submit({ id: 'not-ok', kind: 'gated', input: { title: 'draft' } });
    await waitForState(t.node, 'not-ok', ['waiting']);
    await page.goto(`${base}/tasks/not-ok`);
    await taskState(page, 'waiting');
    await page.click('#do-reject');
    // A rejection needs a reason: the page says so instead of sending it.
    await page.click('#confirm-reject');
    await expect.poll(() => page.locator('#decision [role="status"]').textContent()).toContain('needs a reason');
    await page.fill('#f-reason', 'wrong audience');
    await page.click('#confirm-reject');
    await taskState(page, 'failed');
    expect(posted('not-ok/reject')).toEqual([{ reason: 'wrong audience' }]);
    await expect.poll(() => page.locator('#compensations tr').allTextContents()).toEqual([expect.stringMatching(/^prepare\s*done/)]);
    expect(await page.locator('#facts').textContent()).toContain('wrong audience');
    await shot(page, 'task-rejected');
    await page.close();
  }, 60_000);

  it("renders each step of the record: its output, an excerpt of a large one, visits, the step it stopped at, and steps not reached", async () => {
    // A real pipeline record: `loop` runs twice, `big` returns more than the record carries whole
    // (4 KiB: an excerpt), `fail` fails the task, `after` is never entered.
    await submit({ id: 'stepped-1', kind: 'stepped', input: { selfLoops: 1, long: 'z'.repeat(30_000) } });
    await waitForState(t.node, 'stepped-1', ['failed']);
    const page = await newPage('/tasks/stepped-1');
    await taskState(page, 'failed');
    await expect.poll(() => page.locator('#outputs details summary').allTextContents()).toEqual(['loopvisit 2', 'bigexcerpt']);
    expect(await page.locator('#outputs .step-line').allTextContents()).toEqual(['failfailed', 'afternot reached']);
    expect(await page.locator('#outputs pre').first().textContent()).toContain('"n": 2');
    // The excerpt is the record's cut (4 KiB and its size), and its unbroken line scrolls inside
    // its card rather than widening the page.
    const excerpt = (await page.locator('#outputs pre').nth(1).textContent())!;
    expect(excerpt.length).toBeLessThan(4_200);
    expect(excerpt).toMatch(/… \(\d+ bytes\)$/);
    expect(await page.evaluate('document.documentElement.scrollWidth <= innerWidth')).toBe(true);
    await shot(page, 'task-steps');
    await page.close();
  }, 30_000);

  it('shows a failed command run with its log tail and attempts by class, and retries it from the page', async () => {
    const page = await newPage();
    await submit({ id: 'noisy-1', kind: 'noisy' });
    await waitForState(t.node, 'noisy-1', ['failed']);
    await page.goto(`${base}/tasks/noisy-1`);
    await taskState(page, 'failed');
    await expect.poll(() => page.locator('#log').textContent()).toContain('building step 1');
    expect(await page.locator('#log').textContent()).toContain('warning: flaky network');
    expect(await page.locator('#actions button').allTextContents()).toEqual(['Retry']);
    expect(await page.locator('#attempts .stat').allTextContents()).toEqual(['0transient', '1permanent', '0crashes']);
    await shot(page, 'task-failed');
    await page.click('#do-retry');
    await page.click('#confirm-retry');
    await expect.poll(async () => (await t.node.store.get('noisy-1'))?.history.filter((h) => h.to === 'queued').length).toBeGreaterThanOrEqual(2);
    expect(posted('noisy-1/retry')).toEqual([{}]);
    // It runs again and fails again; the page follows without a reload.
    await expect.poll(() => page.locator('#history').textContent(), { timeout: 15_000 }).toContain('reopened');
    await taskState(page, 'failed');
    await page.close();
  }, 60_000);

  it('shows a drained node as drained (not dead), a silent one as dead, failing preflight, and dead letters with their whole body', async () => {
    const now = Date.now();
    const node = { capacity: 4, running: 0, startedAt: now - 60_000, pid: 1, host: 'elsewhere' };
    await t.node.store.recordNode({ ...node, id: 'drained-node', incarnation: 'a1', state: 'stopped', lastSeenAt: now - 30_000 });
    await t.node.store.recordNode({ ...node, id: 'lost-node', incarnation: 'b1', state: 'up', lastSeenAt: now - 30_000 });
    await t.node.store.recordNode({ ...node, id: 'leaving-node', incarnation: 'c1', state: 'draining', running: 2, lastSeenAt: now + 60_000 });
    await t.node.store.putPreflight({ kind: 'claude', ok: false, reason: 'claude: command not found', checkedAt: now });
    await t.node.store.addDeadLetter({ source: 'nats:reeve.submit', code: 'INVALID_INPUT', reason: 'kind: must be 1-64 characters', payload: '{"kind":"no such kind!","input":{"big":"' + 'x'.repeat(300) + '"}}' });
    const page = await newPage();
    const nodeState = (id: string) => page.locator(`#nodes tr[data-node="${id}"] .badge`).textContent();
    await expect.poll(() => nodeState('drained-node')).toBe('drained');
    expect(await nodeState('lost-node')).toBe('dead');
    expect(await nodeState('leaving-node')).toBe('draining');
    expect(await page.locator('#preflight').textContent()).toContain('claude: command not found');
    await page.locator('#dead-letters li', { hasText: 'INVALID_INPUT' }).waitFor();
    await page.locator('#dead-letters li button').first().click();
    await expect.poll(() => page.locator('#dead-letters pre').first().textContent()).toContain('x'.repeat(300));
    await shot(page, 'overview-panels');
    await page.close();
  }, 60_000);

  it('stays paged with 10,000 tasks: 50 rows a page, a burst of 10,000 events folds into few page reads, Older walks the cursor', async () => {
    const page = await newPage();
    const before = requests.length;
    // A kind no node runs, so they stay queued; each submit is a task event on the stream.
    for (let i = 0; i < 10_000; i++) await t.node.store.submit({ id: `park-${String(i).padStart(5, '0')}`, kind: 'parked' });
    await expect.poll(() => page.locator('#counts [data-state="queued"] .n').textContent(), { timeout: 20_000 }).toBe('10000');
    await expect.poll(() => page.locator('#tasks tbody tr').first().getAttribute('data-id'), { timeout: 10_000 }).toBe('park-09999');
    expect(await page.locator('#tasks tbody tr').count()).toBe(50);
    const listReads = requests.slice(before).filter((r) => r.url.includes('/api/v1/tasks?')).length;
    expect(listReads).toBeLessThan(200);
    await shot(page, 'overview-10000');

    await page.click('#counts [data-state="queued"]');
    await expect.poll(() => page.url()).toBe(`${base}/?state=queued`);
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
