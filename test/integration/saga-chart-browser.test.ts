import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBrowser } from '../support/browser.ts';
import { failBeacons, startInspectNode, type InspectNode } from '../support/inspect-node.ts';
import { tempDir } from '../support/temp-dir.ts';
import { fixtureAgent } from '../support/test-node.ts';

/**
 * The task page's state chart in headless Chromium against a real `reeve start --inspect`
 * process: drawn offline from the saga machine's definition, with the task's current state, the
 * way it came, and the node's supervision tree with restart counts. Screenshots go to a temp dir
 * whose path the test prints.
 */
let node: InspectNode;
let browser: Awaited<ReturnType<typeof openBrowser>>;
const shots = tempDir('reeve-saga-chart-shots-');

async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 300)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const state = async (id: string) => (await node.request('GET', `/api/v1/tasks/${id}`)).json().state as string;

beforeAll(async () => {
  node = await startInspectNode({
    agents: {
      sleepy: { module: fixtureAgent('sleepy.ts') },
      ship: {
        steps: [
          { name: 'develop', run: { module: fixtureAgent('echo.ts') }, compensate: { module: fixtureAgent('undo.ts') } },
          { name: 'publish', run: { module: fixtureAgent('fails-permanently.ts') } },
        ],
        retry: { permanent: { maxAttempts: 1 } },
      },
    },
  });
  browser = await openBrowser();
  console.log(`saga chart screenshots: ${shots.path}`);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await node?.stop();
});

describe('the task page state chart', () => {
  it('draws the saga from its definition with the state a failed task ended in, the way it came, and the supervision tree with restarts', async () => {
    // A supervised loop that crashed once, for the tree's restart count.
    const heal = failBeacons(node.dir);
    try {
      await until(async () => (await node.request('GET', '/api/v1/supervision')).json(), (t) => t.root.children.some((c: { id: string; restarts: number }) => c.id === 'beacon' && c.restarts >= 1), 'beacon restarted');
    } finally {
      heal();
    }
    const id = await node.submit({ kind: 'ship', input: {} });
    await until(() => state(id), (s) => s === 'failed', `${id} failed`);

    const page = await browser.context.newPage();
    await page.goto(`${node.base}/tasks/${id}#token=${node.token}`);
    const chart = page.locator('#saga-chart svg.machine');
    await chart.waitFor();
    expect(await chart.getAttribute('aria-label')).toBe('state chart of taskSaga');
    // Every state of the machine is drawn, the terminal one the task is in is the current one.
    const states = await page.locator('#saga-chart g.state').evaluateAll((gs) => gs.map((g) => g.getAttribute('data-state')));
    expect(states.sort()).toEqual(['backoff', 'cancelled', 'cancelling', 'compensating', 'crashed', 'ending', 'failed', 'queued', 'quarantined', 'running', 'succeeded', 'waiting'].sort());
    expect(await page.locator('#saga-chart g.state.current').getAttribute('data-state')).toBe('failed');
    // The way it came: claimed, the next step, the failure, the compensation, through `ending`.
    const taken = await page.locator('#saga-chart path.edge.taken').evaluateAll((ps) => ps.map((p) => `${p.getAttribute('data-from')}→${p.getAttribute('data-to')}`));
    expect(taken.sort()).toEqual(['compensating→ending', 'ending→failed', 'queued→running', 'running→compensating', 'running→running'].sort());
    expect(await page.locator('#saga-chart g.state.visited[data-state="ending"]').count()).toBe(1);
    expect(await page.locator('#saga-chart g.state.visited[data-state="succeeded"]').count()).toBe(0);
    // Event names are in the arrows' tooltips.
    expect(await page.locator('#saga-chart path.edge[data-from="running"][data-to="compensating"] title').textContent()).toContain('attempt.failed');
    // The supervision tree, restart count beside the loop that crashed.
    await expect.poll(() => page.locator('#supervision li[data-child="beacon"] .restarts').textContent()).toMatch(/↻ [1-9]/);
    expect(await page.locator('#supervision li[data-child="sagas"]').count()).toBe(1);
    await page.locator('#saga-card').screenshot({ path: join(shots.path, 'saga-chart-failed.png') });
    await page.screenshot({ path: join(shots.path, 'task-page-failed.png'), fullPage: true });
    await page.close();
  });

  it('follows a running task: running is the current state, and it moves to succeeded without a reload', async () => {
    const id = await node.submit({ kind: 'sleepy', input: { ms: 6000 } });
    await until(() => state(id), (s) => s === 'running', `${id} running`);
    const page = await browser.context.newPage();
    await page.goto(`${node.base}/tasks/${id}#token=${node.token}`);
    await expect.poll(() => page.locator('#saga-chart g.state.current').getAttribute('data-state')).toBe('running');
    await expect.poll(() => page.locator('#supervision li[data-child="sagas"]').textContent()).toContain('this task among them');
    await page.locator('#saga-card').screenshot({ path: join(shots.path, 'saga-chart-running.png') });
    await expect.poll(() => page.locator('#saga-chart g.state.current').getAttribute('data-state'), { timeout: 20_000 }).toBe('succeeded');
    expect(await page.locator('#saga-chart path.edge.taken[data-from="running"][data-to="succeeded"]').count()).toBe(1);
    await page.close();
  });

  it("lists the node's inspector relay on the overview (from its heartbeat), linking its bridge page", async () => {
    const overview = await browser.context.newPage();
    await overview.goto(`${node.base}/#token=${node.token}`);
    await expect.poll(() => overview.locator('#nodes a.relay').getAttribute('href')).toBe(`${node.base}/inspect`);
    await overview.close();
  });
});
