import { createInspectorServer } from '@statelyai/inspect/server';
import { connect as tcpConnect, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failBeacons, receive, startInspectNode, type InspectNode, type Inspected, type Received } from '../support/inspect-node.ts';
import { readEvents } from '../support/http-node.ts';
import { freePort, natsServerForSuite } from '../support/nats-server.ts';
import { fixtureAgent } from '../support/test-node.ts';

/**
 * DESIGN.md "XState inspector" against real `reeve start --inspect` processes, read by the real
 * `createWebSocketReceiver` of @statelyai/inspect (a client nobody here wrote).
 */
const SECRET = 'inspect-secret-value-42';
const agents = {
  echo: { module: fixtureAgent('echo.ts') },
  sleepy: { module: fixtureAgent('sleepy.ts') },
  flaky: { module: fixtureAgent('throws-transient.ts'), retry: { transient: { maxAttempts: 1 } }, breaker: { threshold: 1, pauseMs: 600_000 } },
  gated: { steps: [{ name: 'draft', run: { module: fixtureAgent('routes.ts') } }, { name: 'publish', run: { module: fixtureAgent('echo.ts') } }] },
};

type Actor = Inspected & { type: '@xstate.actor'; snapshot: NonNullable<Inspected['snapshot']> };
type Snap = Inspected & { type: '@xstate.snapshot'; snapshot: NonNullable<Inspected['snapshot']> };
const isActor = (e: Inspected): e is Actor => e.type === '@xstate.actor';
const isSnapshot = (e: Inspected): e is Snap => e.type === '@xstate.snapshot';
const of = (events: Inspected[], sessionId: string) => events.filter((e) => e.sessionId === sessionId);

let node: InspectNode;
let early: Received;
let root: string;

beforeAll(async () => {
  node = await startInspectNode({ agents, config: { secrets: [SECRET] } });
  early = receive(node.inspectUrl);
  root = (await early.waitFor((e) => isActor(e) && e.parentId === undefined && e.sessionId.startsWith('reeve:'), 'root actor')).sessionId;
}, 40_000);
afterAll(async () => {
  early?.stop();
  await node?.stop();
});

describe('reeve start --inspect', () => {
  it('starts HTTP on a free loopback port without http.port, prints the relay URL and names it in its heartbeat', async () => {
    expect(node.inspectUrl).toBe(`ws://127.0.0.1:${node.port}/inspect`);
    expect(root).toMatch(/^reeve:[\w-]+:root$/);
    const beats = await readEvents(node.port, `/api/v1/events?token=${node.token}`, (es) => es.some((e) => e.event === 'node'));
    expect(beats.find((e) => e.event === 'node')?.data).toMatchObject({ inspect: node.inspectUrl });
  });

  it('shows the supervision tree: the root, then each supervisor and loop child under it', async () => {
    for (const child of ['sagas', 'dispatcher', 'lease-keeper', 'stale-sweeper', 'beacon']) {
      const actor = (await early.waitFor((e) => isActor(e) && e.sessionId === `${root}/${child}`, child)) as Actor;
      expect(actor).toMatchObject({ parentId: root, rootId: root, snapshot: { status: 'active', value: 'running' } });
    }
  });

  it('follows a task from submit to succeeded: its actor under the sagas supervisor with the saga definition, its events with their sources and its snapshots in order', async () => {
    const id = await node.submit({ kind: 'echo', input: { note: `carries ${SECRET}` } });
    const session = `task:${id}`;
    const done = await early.waitFor((e) => isSnapshot(e) && e.sessionId === session && e.snapshot.status === 'done', 'task done');
    const actor = of(early.events, session).find(isActor)!;
    expect(actor).toMatchObject({ parentId: `${root}/sagas`, rootId: root, name: session });
    expect(JSON.parse(actor.definition!)).toMatchObject({ id: 'taskSaga', initial: 'queued', states: { running: {}, compensating: {}, succeeded: {} } });
    const snapshots = of(early.events, session).filter(isSnapshot);
    expect(snapshots.map((s) => s.snapshot.value)).toEqual(['running', 'succeeded']);
    expect(done.snapshot).toMatchObject({ status: 'done', value: 'succeeded', context: { taskId: id, completed: ['run'], outputSteps: ['run'], hasResult: true } });
    const events = of(early.events, session).filter((e) => e.type === '@xstate.event');
    expect(events.map((e) => [e.event?.type, e.sourceId])).toEqual([
      ['task.claimed', `${root}/dispatcher`],
      ['step.succeeded', 'runner'],
    ]);
    // Inputs and results never leave the node this way, nor do secrets.
    const text = JSON.stringify(of(early.events, session));
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('carries');
    expect(events[1]!.event).toMatchObject({ output: '(left out)' });
  });

  it('sends a receiver that connects late the live actors with their latest snapshots first, and not the ended ones', async () => {
    const finished = await node.submit({ kind: 'echo' });
    await early.waitFor((e) => isSnapshot(e) && e.sessionId === `task:${finished}` && e.snapshot.status === 'done', 'echo done');
    const long = await node.submit({ kind: 'sleepy', input: { ms: 4000 } });
    await early.waitFor((e) => isSnapshot(e) && e.sessionId === `task:${long}` && e.snapshot.value === 'running', 'sleepy running');
    const late = receive(node.inspectUrl);
    try {
      await late.waitFor((e) => isSnapshot(e) && e.sessionId === `task:${long}`, 'replayed task snapshot');
      const first = late.events[0]!;
      expect(first).toMatchObject({ type: '@xstate.actor', sessionId: root });
      const task = late.events.findIndex((e) => isActor(e) && e.sessionId === `task:${long}`);
      expect(late.events[task + 1]).toMatchObject({ type: '@xstate.snapshot', sessionId: `task:${long}`, snapshot: { value: 'running', status: 'active' } });
      expect((late.events[task] as Actor).parentId).toBe(`${root}/sagas`);
      // Parents before children: the sagas supervisor came before the task.
      expect(late.events.findIndex((e) => e.sessionId === `${root}/sagas`)).toBeLessThan(task);
      expect(late.events.some((e) => e.sessionId === `task:${finished}`)).toBe(false);
      // Then the stream: the task's end reaches the late receiver too.
      await late.waitFor((e) => isSnapshot(e) && e.sessionId === `task:${long}` && e.snapshot.value === 'succeeded', 'sleepy done (late)');
    } finally {
      late.stop();
    }
  });

  it('shows a crashed loop child restarted: a new actor under the same parent, with its restart count', async () => {
    const heal = failBeacons(node.dir);
    try {
      const crash = await early.waitFor((e) => isSnapshot(e) && e.sessionId === `${root}/beacon` && e.snapshot.status === 'error', 'beacon crash');
      expect(crash.snapshot?.value).toBe('crashed');
      const restarted = (await early.waitFor((e) => isActor(e) && e.sessionId === `${root}/beacon@2`, 'beacon restarted')) as Actor;
      expect(restarted).toMatchObject({ parentId: root, snapshot: { status: 'active', value: 'running', context: { restarts: 1, crashes: 1 } } });
      await early.waitFor((e) => e.type === '@xstate.event' && e.sessionId === root && e.event?.type === 'child.restarted', 'root child.restarted');
    } finally {
      heal();
    }
  });

  it("shows a breaker opening as the breaker actor's snapshot `open`, with the breaker machine's definition", async () => {
    await node.submit({ kind: 'flaky' });
    const open = await early.waitFor((e) => isSnapshot(e) && e.sessionId === 'breaker:flaky' && e.snapshot.value === 'open', 'breaker open');
    expect(open.snapshot?.context).toMatchObject({ key: 'flaky', failures: 0 });
    const actor = of(early.events, 'breaker:flaky').find(isActor)!;
    expect(actor.parentId).toBe(root);
    expect(JSON.parse(actor.definition!)).toMatchObject({ id: 'circuitBreaker', initial: 'closed' });
    const failed = of(early.events, 'breaker:flaky').find((e) => e.type === '@xstate.event' && e.event?.type === 'attempt.failed');
    expect(failed).toMatchObject({ sourceId: expect.stringMatching(/^task:/) });
  });

  it("reports an operator's approval over HTTP as an operator event to the task", async () => {
    const id = await node.submit({ kind: 'gated', input: {} });
    await early.waitFor((e) => isSnapshot(e) && e.sessionId === `task:${id}` && e.snapshot.value === 'waiting', 'waiting');
    expect((await node.request('POST', `/api/v1/tasks/${id}/approve`, { body: {} })).status).toBe(200);
    const approve = await early.waitFor((e) => e.type === '@xstate.event' && e.sessionId === `task:${id}` && e.event?.type === 'task.approve', 'approve event');
    expect(approve.sourceId).toBe('operator');
    await early.waitFor((e) => isSnapshot(e) && e.sessionId === `task:${id}` && e.snapshot.value === 'succeeded', 'approved task done');
  });

  it('is not affected by a receiver that sends garbage or never reads', async () => {
    const stuck = await rawWebSocket(node.port, '/inspect');
    stuck.pause(); // never reads
    const rude = await rawWebSocket(node.port, '/inspect');
    rude.write(Buffer.from([0x81, 0x85, 1, 2, 3, 4, 0x69, 0x6a, 0x6b, 0x6c, 0x6d])); // a masked text frame
    rude.write(Buffer.from('this is not a WebSocket frame at all\r\n\r\n'));
    const huge = await rawWebSocket(node.port, '/inspect');
    huge.write(Buffer.concat([Buffer.from([0x82, 0xff]), Buffer.alloc(8, 0), Buffer.from([0, 0x10, 0, 0])])); // claims a 1 MiB frame
    const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => node.submit({ kind: 'echo', input: { i } })));
    for (const id of ids) await early.waitFor((e) => isSnapshot(e) && e.sessionId === `task:${id}` && e.snapshot.value === 'succeeded', `task ${id} done`);
    expect((await node.request('GET', '/healthz')).status).toBe(200);
    const metrics = (await node.request('GET', '/metrics')).text;
    expect(metrics).toMatch(/reeve_inspect_dropped_total\{sink="relay"\} \d+/);
    expect(metrics).toMatch(/reeve_inspect_receivers [1-9]/);
    for (const s of [stuck, rude, huge]) s.destroy();
  });

  it('serves GET /inspect, the bridge page to Stately\'s inspector, with a policy that lets it frame stately.ai and reach the relay only', async () => {
    const page = await node.request('GET', '/inspect', { token: null });
    expect(page.status).toBe(200);
    expect(page.text).toContain('https://stately.ai/inspect');
    expect(page.text).toContain('/assets/inspect-bridge.js');
    expect(page.headers['content-security-policy']).toContain('frame-src https://stately.ai');
    expect(page.headers['content-security-policy']).toContain(`connect-src 'self' ws://127.0.0.1:${node.port}`);
  });
});

describe('inspection off and on elsewhere', () => {
  it('refuses the relay without the token when HTTP is not on loopback, and prints a URL that carries it', async () => {
    const open = await startInspectNode({ agents: { echo: agents.echo }, config: { http: { host: '0.0.0.0', token: 'inspect-token-1234' } } });
    try {
      expect(open.inspectUrl).toBe(`ws://127.0.0.1:${open.port}/inspect?token=inspect-token-1234`);
      // The heartbeat names the relay by host name, and never carries the token.
      const beats = await readEvents(open.port, '/api/v1/events?token=inspect-token-1234', (es) => es.some((e) => e.event === 'node'));
      expect(beats.find((e) => e.event === 'node')?.data.inspect).toBe(`ws://${hostname()}:${open.port}/inspect`);
      expect(await upgradeStatus(open.port, '/inspect')).toBe(401);
      expect(await upgradeStatus(open.port, '/inspect?token=wrong-token')).toBe(403);
      const r = receive(open.inspectUrl);
      try {
        await r.waitFor((e) => isActor(e) && e.parentId === undefined, 'root actor with the token');
      } finally {
        r.stop();
      }
      // The page carries no data: it loads without the token; the relay it opens needs it.
      expect((await open.request('GET', '/inspect', { token: null })).status).toBe(200);
    } finally {
      await open.stop();
    }
  });

  it('--inspect-url pushes the same stream to an outside relay (createInspectorServer) once it is up, live actors first, and serves no relay or bridge page of its own', async () => {
    const port = await freePort();
    // The node comes up first: its pusher finds nothing there and retries with backoff.
    const pushing = await startInspectNode({ agents: { echo: agents.echo }, config: { http: { port: 0 } }, args: ['--inspect-url', `ws://127.0.0.1:${port}`], relay: false });
    const relay = createInspectorServer({ port, autoOpen: false });
    const r = receive(`ws://127.0.0.1:${port}`);
    try {
      // On (re)connecting it sends the live actors: the tree that was built before the relay existed.
      const rootActor = await r.waitFor((e) => isActor(e) && e.parentId === undefined && e.sessionId.startsWith('reeve:'), 'root via the outside relay');
      await r.waitFor((e) => isActor(e) && e.sessionId === `${rootActor.sessionId}/dispatcher`, 'dispatcher via the outside relay');
      const id = await pushing.submit({ kind: 'echo' });
      const actor = (await r.waitFor((e) => isActor(e) && e.sessionId === `task:${id}`, 'task actor via the outside relay')) as Actor;
      expect(actor.parentId).toBe(`${rootActor.sessionId}/sagas`);
      await r.waitFor((e) => isSnapshot(e) && e.sessionId === `task:${id}` && e.snapshot.value === 'succeeded', 'task done via the outside relay');
      expect((await pushing.request('GET', '/inspect', { token: null })).status).toBe(404);
      expect(await upgradeStatus(pushing.port, '/inspect')).not.toBe(101);
      expect(pushing.stderr()).not.toMatch(/^inspect: /m);
    } finally {
      r.stop();
      await pushing.stop();
      relay.stop();
    }
    // A node start, then up to one backoff step (1 s doubling while the node started) before it reconnects.
  }, 60_000);
});

describe('cluster mode', () => {
  const nats = natsServerForSuite();
  it('relays its own actors: the root, and each task it runs', async () => {
    const c = await startInspectNode({ agents: { echo: agents.echo }, natsUrl: nats.url });
    const r = receive(c.inspectUrl);
    try {
      const rootActor = await r.waitFor((e) => isActor(e) && e.parentId === undefined && e.sessionId.startsWith('reeve:'), 'root');
      const id = await c.submit({ kind: 'echo' });
      const actor = (await r.waitFor((e) => isActor(e) && e.sessionId === `task:${id}`, 'task actor')) as Actor;
      expect(actor.parentId).toBe(`${rootActor.sessionId}/sagas`);
      await r.waitFor((e) => isSnapshot(e) && e.sessionId === `task:${id}` && e.snapshot.value === 'succeeded', 'task done');
    } finally {
      r.stop();
      await c.stop();
    }
  });
});

/** The status line a WebSocket upgrade request gets. */
function upgradeStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1', () => socket.write(upgradeRequest(port, path)));
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString();
      const status = /^HTTP\/1\.1 (\d+)/.exec(text)?.[1];
      if (status) {
        socket.destroy();
        resolve(Number(status));
      }
    });
    socket.on('error', reject);
  });
}

function upgradeRequest(port: number, path: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`;
}

/** A WebSocket connection done by hand (so the test can misbehave on it), after its 101. */
function rawWebSocket(port: number, path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(port, '127.0.0.1', () => socket.write(upgradeRequest(port, path)));
    socket.once('data', (d: Buffer) => (d.toString().startsWith('HTTP/1.1 101') ? resolve(socket) : reject(new Error(d.toString()))));
    socket.on('error', () => undefined);
  });
}
