import { connect } from '@nats-io/transport-node';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanEnv, reeveBin } from '../support/cli.ts';
import { natsServerForSuite } from '../support/nats-server.ts';
import { readEvents, send, startHttpNode, type HttpNode } from '../support/http-node.ts';
import { fixtureAgent } from '../support/test-node.ts';

/**
 * The HTTP API of DESIGN.md ("HTTP API and dashboard") against a real `reeve start` process, on
 * SQLite and on a real nats-server.
 */
const nats = natsServerForSuite();
const SECRET = 'hunter2-very-secret';

const agents = {
  echo: { module: fixtureAgent('echo.ts') },
  talk: { command: ['node', '-e', `console.log('token is ${SECRET}; line 1'); console.log('line 2')`] },
  gated: { steps: [{ name: 'draft', run: { module: fixtureAgent('routes.ts') } }, { name: 'publish', run: { module: fixtureAgent('echo.ts') } }] },
  hang: { module: fixtureAgent('waits-for-abort.ts') },
  decided: { steps: ['draft', 'ask', 'publish'].map((name) => ({ name, run: { module: fixtureAgent('sees-decisions.ts') } })) },
};

async function until<T>(probe: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v).slice(0, 500)}`);
    await new Promise((r) => setTimeout(r, 30));
  }
}

describe.each(['sqlite', 'nats'] as const)('HTTP API on %s', (backend) => {
  let node: HttpNode;
  const taskState = async (id: string) => (await node.request('GET', `/api/v1/tasks/${id}`)).json().state as string;
  const settle = (id: string, states: string[]) => until(() => taskState(id), (s) => states.includes(s), `${id} in ${states.join('|')}`);

  beforeAll(async () => {
    node = await startHttpNode({ agents, secrets: [SECRET], ...(backend === 'nats' ? { natsUrl: nats.url } : {}) });
  }, 40_000);
  afterAll(async () => {
    await node?.stop();
  });

  it('answers /healthz and /readyz, and keeps its token in dataDir/http-token with mode 0600', async () => {
    expect((await node.request('GET', '/healthz')).json()).toEqual({ ok: true });
    const ready = await until(() => node.request('GET', '/readyz'), (r) => r.status === 200, 'readyz');
    expect(ready.json()).toEqual({ ready: true });
    expect(statSync(join(node.dir, '.reeve', 'http-token')).mode & 0o777).toBe(0o600);
  });

  it('submits (201, then 200 for the same id), shows, lists with a cursor and runs the task', async () => {
    const id = `e-${backend}-1`;
    const first = await node.request('POST', '/api/v1/tasks', { body: { id, kind: 'echo', input: { n: 1 } } });
    expect(first.status).toBe(201);
    expect(first.json().task).toMatchObject({ id, kind: 'echo' });
    await settle(id, ['succeeded']);
    const again = await node.request('POST', '/api/v1/tasks', { body: { id, kind: 'echo', input: { n: 1 } } });
    expect(again.status).toBe(200);
    expect(again.json().task).toMatchObject({ id, state: 'succeeded', result: { echo: { n: 1 } } });
    expect((await node.request('POST', '/api/v1/tasks', { body: { id: `e-${backend}-2`, kind: 'echo' } })).status).toBe(201);
    await settle(`e-${backend}-2`, ['succeeded']);
    const page1 = (await node.request('GET', '/api/v1/tasks?kind=echo&limit=1')).json();
    expect(page1.tasks.map((t: { id: string }) => t.id)).toEqual([`e-${backend}-2`]);
    expect(page1.tasks[0]).not.toHaveProperty('snapshot');
    const page2 = (await node.request('GET', `/api/v1/tasks?kind=echo&limit=1&cursor=${page1.next}`)).json();
    expect(page2.tasks.map((t: { id: string }) => t.id)).toEqual([id]);
    expect(page2.next).toBeUndefined();
    expect((await node.request('GET', '/api/v1/tasks?state=succeeded&kind=echo')).json().tasks).toHaveLength(2);
  });

  it('refuses mutations without the token (401), with a wrong one (403), and a foreign Host (403)', async () => {
    const body = { kind: 'echo' };
    const none = await node.request('POST', '/api/v1/tasks', { body, token: null });
    expect(none.status).toBe(401);
    expect(none.json().error.code).toBe('UNAUTHORIZED');
    const wrong = await node.request('POST', '/api/v1/tasks', { body, token: 'nope' });
    expect(wrong.status).toBe(403);
    expect(wrong.json().error.code).toBe('FORBIDDEN');
    const rebound = await node.request('GET', '/api/v1/status', { headers: { host: 'evil.example:80' } });
    expect(rebound.status).toBe(403);
    expect(rebound.json().error.message).toContain('evil.example');
    expect((await node.request('GET', '/api/v1/status', { headers: { host: `localhost:${node.port}` } })).status).toBe(200);
  });

  it('gives 400 naming the field for malformed requests, 404 and 413, and keeps serving', async () => {
    const cases: Array<[string, string, unknown, string]> = [
      ['POST', '/api/v1/tasks', '{"kind": ', '(body)'],
      ['POST', '/api/v1/tasks', '[1, 2]', 'request body: (root)'],
      ['POST', '/api/v1/tasks', 'null', 'request body: (root)'],
      ['POST', '/api/v1/tasks', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), '(body)'],
      ['POST', '/api/v1/tasks', `{"kind":"echo","input":${'['.repeat(100_000)}${']'.repeat(100_000)}}`, 'input'],
      ['POST', '/api/v1/tasks/x/approve', { extra: 1 }, 'extra'],
      ['POST', '/api/v1/tasks/x/reject', {}, 'reason'],
      ['GET', '/api/v1/tasks?cursor=abc', undefined, 'cursor'],
      ['GET', '/api/v1/tasks?limit=0', undefined, 'limit'],
      ['GET', '/api/v1/tasks?limit=5000', undefined, 'limit'],
      ['GET', '/api/v1/tasks?state=queued&state=failed', undefined, 'state: is given more than once'],
      ['GET', '/api/v1/tasks?__proto__=1', undefined, '__proto__'],
      ['GET', '/api/v1/events?since=1', undefined, 'since'],
      ['GET', '/api/v1/dead-letters/99999999999999999999', undefined, 'n'],
      ['POST', '/api/v1/tasks', { kind: 'echo', prority: 1 }, 'prority'],
      ['POST', '/api/v1/tasks', { kind: 'nope' }, 'kind'],
      ['POST', '/api/v1/tasks', { kind: 'echo', timeoutMs: -1 }, 'timeoutMs'],
      ['POST', '/api/v1/tasks', { kind: 'echo', timeoutMs: 2 ** 31 }, 'timeoutMs'],
      ['GET', '/api/v1/tasks?limit=abc', undefined, 'limit'],
      ['GET', '/api/v1/tasks?state=sleeping', undefined, 'state'],
      ['GET', '/api/v1/tasks?stat=failed', undefined, 'stat'],
      ['GET', '/api/v1/tasks/bad%20id!', undefined, 'id'],
      ['GET', '/api/v1/tasks/%E0%A4%A', undefined, 'id'],
      ['POST', '/api/v1/tasks/x/cancel', { reason: 7 }, 'reason'],
      ['GET', '/api/v1/dead-letters/abc', undefined, 'n'],
      ['GET', '/api/v1/tasks/x/log?bytes=-5', undefined, 'bytes'],
    ];
    for (const [method, path, body, field] of cases) {
      const r = await node.request(method, path, { body });
      expect({ path, status: r.status, code: r.json().error.code }).toEqual({ path, status: 400, code: 'INVALID_INPUT' });
      expect(r.json().error.message).toContain(field);
    }
    const missing = await node.request('GET', '/api/v1/tasks/no-such-task');
    expect([missing.status, missing.json().error.code]).toEqual([404, 'TASK_NOT_FOUND']);
    expect((await node.request('GET', '/api/v1/nowhere')).status).toBe(404);
    const huge = await node.request('POST', '/api/v1/tasks', { body: JSON.stringify({ kind: 'echo', input: 'x'.repeat(1_200_000) }) });
    expect([huge.status, huge.json().error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    // Without a Content-Length (chunked) the size is counted as it arrives.
    const streamed = await node.request('POST', '/api/v1/tasks', { body: JSON.stringify({ kind: 'echo', input: 'x'.repeat(1_200_000) }), headers: { 'transfer-encoding': 'chunked' } });
    expect([streamed.status, streamed.json().error.code]).toEqual([413, 'PAYLOAD_TOO_LARGE']);
    // Just under the limit is accepted (in a cluster the record must also fit NATS's 1 MiB max_payload).
    const size = { nats: 512 * 1024, sqlite: 1024 * 1024 - 2 - 200 }[backend];
    const big = await node.request('POST', '/api/v1/tasks', { body: { id: `big-${backend}`, kind: 'echo', input: 'y'.repeat(size) } });
    expect(big.status).toBe(201);
    expect((await node.request('GET', '/healthz')).status).toBe(200);
    expect(node.process.exitCode).toBeNull();
  });

  it('cancels, retries, and approves or rejects a waiting task through the operator path (409 when refused)', async () => {
    const hang = `hang-${backend}`;
    await node.request('POST', '/api/v1/tasks', { body: { id: hang, kind: 'hang' } });
    await settle(hang, ['running']);
    const cancelled = await node.request('POST', `/api/v1/tasks/${hang}/cancel`, { body: { reason: 'no longer needed' } });
    expect(cancelled.status).toBe(200);
    await settle(hang, ['cancelled']);
    expect((await node.request('POST', `/api/v1/tasks/${hang}/cancel`)).status).toBe(409);
    const retried = await node.request('POST', `/api/v1/tasks/${hang}/retry`, { body: {} });
    expect([retried.status, retried.json().task.state]).toEqual([200, 'queued']);
    await node.request('POST', `/api/v1/tasks/${hang}/cancel`);

    const unexplained = await node.request('POST', `/api/v1/tasks/${hang}/reject`, { body: {} });
    expect([unexplained.status, unexplained.json().error.message]).toEqual([400, expect.stringContaining('reason')]);
    for (const op of ['approve', 'reject'] as const) {
      const id = `gated-${op}-${backend}`;
      await node.request('POST', '/api/v1/tasks', { body: { id, kind: 'gated', input: {} } });
      await settle(id, ['waiting']);
      const decided = await node.request('POST', `/api/v1/tasks/${id}/${op}`, { body: op === 'reject' ? { reason: 'not good enough' } : {} });
      expect(decided.status).toBe(200);
      expect(decided.json().task.history.at(-1).reason).toMatch(op === 'approve' ? /^approved by \S+; next / : /rejected by \S+: not good enough/);
      await settle(id, [op === 'approve' ? 'succeeded' : 'failed']);
      const late = await node.request('POST', `/api/v1/tasks/${id}/approve`, { body: {} });
      expect([late.status, late.json().error.code]).toEqual([409, 'INVALID_TRANSITION']);
    }
  });

  it('approves with an input the next step sees as ctx.approval, and rejects back to a step that sees ctx.feedback', async () => {
    const id = `decided-${backend}`;
    await node.request('POST', '/api/v1/tasks', { body: { id, kind: 'decided' } });
    await settle(id, ['waiting']);
    for (const [op, body, field] of [
      ['approve', { goto: 'draft' }, 'goto'],
      ['reject', { reason: 'x', input: { a: 1 } }, 'input'],
      ['reject', { reason: 'x', goto: 'deploy' }, 'goto'],
    ] as const) {
      const refused = await node.request('POST', `/api/v1/tasks/${id}/${op}`, { body });
      expect([refused.status, refused.json().error.code]).toEqual([400, 'INVALID_INPUT']);
      expect(refused.json().error.message).toContain(field);
    }
    const rejected = await node.request('POST', `/api/v1/tasks/${id}/reject`, { body: { reason: 'add a summary', goto: 'draft' } });
    expect(rejected.status).toBe(200);
    expect(rejected.json().task).toMatchObject({ state: 'queued', step: 'draft' });
    expect(rejected.json().task.history.at(-1).reason).toMatch(/^rejected by http: "add a summary" → draft \(visit 2 of 3\)/);
    await settle(id, ['waiting']);
    const approved = await node.request('POST', `/api/v1/tasks/${id}/approve`, { body: { input: { channel: 'beta' }, reason: 'good now' } });
    expect([approved.status, approved.json().task.state]).toEqual([200, 'queued']);
    await settle(id, ['succeeded']);
    const task = (await node.request('GET', `/api/v1/tasks/${id}`)).json();
    expect(task.result).toEqual({ step: 'publish', approval: { input: { channel: 'beta' }, reason: 'good now', by: 'http', at: expect.any(Number) }, feedback: null });
    expect(task.steps).toEqual([
      { name: 'draft', visits: 2, output: { step: 'draft', approval: null, feedback: { reason: 'add a summary', from: 'ask' } } },
      { name: 'ask', visits: 2, output: { step: 'ask', approval: null, feedback: null } },
      { name: 'publish', visits: 1, output: task.result },
    ]);
  });

  it("serves a task's run-log tail with the config's secrets redacted, and never a secret in any response", async () => {
    const id = `talk-${backend}`;
    await node.request('POST', '/api/v1/tasks', { body: { id, kind: 'talk' } });
    await settle(id, ['succeeded']);
    const log = await node.request('GET', `/api/v1/tasks/${id}/log?bytes=4096`);
    expect(log.status).toBe(200);
    expect(log.headers['content-type']).toContain('text/plain');
    expect(log.text).toContain('line 2');
    expect(log.text).toContain('[redacted]');
    const everything = await Promise.all(['/api/v1/tasks', `/api/v1/tasks/${id}`, '/api/v1/status', '/api/v1/openapi.json', '/metrics'].map((p) => node.request('GET', p)));
    for (const r of [log, ...everything]) expect(r.text).not.toContain(SECRET);
  });

  it('serves status, nodes, breakers and the OpenAPI document', async () => {
    const status = (await node.request('GET', '/api/v1/status')).json();
    expect(status).toMatchObject({ mode: backend === 'nats' ? 'cluster' : 'embedded', breakers: expect.any(Array), preflight: expect.any(Array) });
    expect(status.nodes[0]).toMatchObject({ state: 'up', capacity: expect.any(Number) });
    expect((await node.request('GET', '/api/v1/nodes')).json().nodes).toHaveLength(1);
    expect((await node.request('GET', '/api/v1/breakers')).json()).toEqual({ breakers: expect.any(Array) });
    const openapi = (await node.request('GET', '/api/v1/openapi.json')).json();
    expect(openapi.openapi).toBe('3.1.0');
    expect(Object.keys(openapi.paths)).toEqual(expect.arrayContaining(['/api/v1/tasks', '/api/v1/tasks/{id}/approve', '/api/v1/dead-letters/{n}', '/api/v1/events']));
    expect(openapi.paths['/api/v1/tasks'].post.requestBody.content['application/json'].schema.properties.kind).toBeDefined();
  });

  it('exposes the contract metrics with the reeve_ prefix', async () => {
    const text = (await until(() => node.request('GET', '/metrics'), (r) => r.text.includes('reeve_tasks{state="succeeded"}'), 'task counts in /metrics')).text;
    for (const name of ['reeve_tasks{state="succeeded"}', 'reeve_task_transitions_total{kind="echo",to="succeeded"}', 'reeve_run_duration_seconds_bucket', 'reeve_queue_wait_seconds_bucket', 'reeve_slots{state="busy"}', 'reeve_slots{state="free"}', 'reeve_leases_lost_total', 'reeve_processes_reaped_total', 'reeve_dead_letters_total', 'reeve_supervisor_restarts_total{child="dispatcher"}', 'reeve_process_cpu_seconds_total', 'reeve_attempt_failures_total']) {
      expect(text).toContain(name);
    }
    expect(text.includes('reeve_nats_connected 1')).toBe(backend === 'nats');
  });

  it('streams task events over SSE for tasks submitted through the API and by the CLI', async () => {
    const viaApi = `sse-api-${backend}`;
    const viaCli = `sse-cli-${backend}`;
    const done = (events: Array<{ event: string; data: any }>) =>
      events.some((e) => e.event === 'node') && [viaApi, viaCli].every((id) => events.some((e) => e.event === 'task' && e.data.id === id && e.data.state === 'succeeded'));
    let opened!: () => void;
    const open = new Promise<void>((resolve) => (opened = resolve));
    const reading = readEvents(node.port, '/api/v1/events', done, 20_000, opened);
    await open;
    await node.request('POST', '/api/v1/tasks', { body: { id: viaApi, kind: 'echo' } });
    const cli = await node.cli(['submit', 'echo', '--id', viaCli, '--input', '{"from":"cli"}']);
    expect(cli.code).toBe(0);
    const events = await reading;
    expect(done(events)).toBe(true);
    const cliEvents = events.filter((e) => e.event === 'task' && e.data.id === viaCli).map((e) => e.data.state);
    expect(cliEvents).toEqual(expect.arrayContaining(['running', 'succeeded']));
    expect(events.find((e) => e.data.id === viaApi)?.data).toMatchObject({ kind: 'echo', attempts: { transient: 0, permanent: 0, crashes: 0 } });
  });

  it('follows the same events in the terminal: tasks --watch and show --follow print plain lines off a TTY', async () => {
    const watch = spawn(process.execPath, [reeveBin, 'tasks', '--watch', '--kind', 'echo'], { cwd: node.dir, env: cleanEnv() });
    let watched = '';
    watch.stdout.on('data', (d: Buffer) => (watched += d.toString()));
    const exited = new Promise<number | null>((resolve) => watch.on('exit', (code) => resolve(code)));
    try {
      const id = `watched-${backend}`;
      // The watcher subscribes once started; submit until it has seen one (its start takes a moment).
      await until(async () => {
        await node.cli(['submit', 'echo', '--id', `${id}-${Date.now()}`]);
        return watched;
      }, (w) => /-> succeeded/.test(w), 'the watcher to print a change', 20_000);
      expect(watched).toMatch(/^\S+Z {2}watched-\S+ {2}echo {2}\S+ -> \S+$/m);
      const follow = await node.cli(['show', (/(watched-\S+)/.exec(watched))![1]!, '--follow']);
      expect(follow.code).toBe(0);
      expect(follow.stdout).toMatch(/- -> queued {2}submitted/);
      expect(follow.stdout).toMatch(/running -> succeeded/);
    } finally {
      watch.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });

  it('answers 404 for a dead letter that does not exist, in the API and the CLI', async () => {
    const missing = await node.request('GET', '/api/v1/dead-letters/999999');
    expect([missing.status, missing.json().error.code]).toEqual([404, 'NOT_FOUND']);
    expect((await node.cli(['dead-letters', 'show', '999999'])).code).toBe(3);
    expect((await node.request('GET', '/api/v1/dead-letters?limit=5')).json()).toEqual({ deadLetters: expect.any(Array) });
  });
});

describe('dead letters over HTTP and the CLI (a malformed NATS submission)', () => {
  it('lists them and shows one with its whole body', async () => {
    const node = await startHttpNode({ agents, natsUrl: nats.url });
    try {
      const nc = await connect({ servers: nats.url });
      nc.publish(`${subjectPrefix(node)}.submit`, '{"kind": "echo", "input": oops');
      await nc.flush();
      await nc.close();
      // Core NATS into the JetStream subject: the stream stores it, the intake rejects it.
      const list = await until(() => node.request('GET', '/api/v1/dead-letters'), (r) => r.json().deadLetters.length > 0, 'a dead letter');
      const first = list.json().deadLetters[0];
      expect(first).toMatchObject({ n: expect.any(Number), source: expect.any(String), code: expect.any(String), excerpt: expect.stringContaining('oops') });
      const one = (await node.request('GET', `/api/v1/dead-letters/${first.n}`)).json();
      expect(one.body).toBe('{"kind": "echo", "input": oops');
      expect(JSON.parse((await node.cli(['dead-letters', '--json'])).stdout).deadLetters[0]).toEqual(first);
      expect(JSON.parse((await node.cli(['dead-letters', 'show', String(first.n), '--json'])).stdout)).toEqual(one);
      expect((await node.cli(['dead-letters', 'show', 'x'])).code).toBe(2);
    } finally {
      await node.stop();
    }
  }, 40_000);
});

function subjectPrefix(node: HttpNode): string {
  // startHttpNode names the prefix after its tag; read it back from the config it wrote.
  return (JSON.parse(readFileSync(join(node.dir, 'reeve.config.json'), 'utf8')) as { nats: { prefix: string } }).nats.prefix;
}

describe('HTTP off a loopback address', () => {
  it('needs the token for reads too', async () => {
    const node = await startHttpNode({ agents: {}, http: { host: '0.0.0.0', token: 'fixed-token-1234' } });
    try {
      expect(node.token).toBe('fixed-token-1234');
      expect((await send(node.port, 'GET', '/api/v1/status')).status).toBe(401);
      expect((await send(node.port, 'GET', '/api/v1/status', { token: 'fixed-token-1234' })).status).toBe(200);
      expect((await send(node.port, 'GET', '/metrics', { token: 'fixed-token-1234' })).status).toBe(200);
      expect((await send(node.port, 'GET', '/healthz')).status).toBe(200);
    } finally {
      await node.stop();
    }
  }, 40_000);
});
