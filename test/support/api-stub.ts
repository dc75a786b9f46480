/**
 * A test-only HTTP server with the routes of DESIGN.md ("HTTP API and dashboard") that the
 * dashboard uses, over a real node's store and bus, so the browser tests run before src/http's
 * server exists. Routes, status codes and JSON shapes follow the contract; the real server
 * replaces this file (swap `startApiStub(t.node, …)` for the node's own HTTP server).
 *
 * Reads need the token here too (as they do on a non-loopback bind), so the tests prove the page
 * sends it on every call, the event stream included.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { operateOnTask } from '../../src/actors/operator.ts';
import { publicRecord } from '../../src/protocol/public-record.ts';
import type { Json } from '../../src/protocol/task.ts';
import { statusReport } from '../../src/views/status-report.ts';
import { ErrorCode, InvalidInputError, ReeveError, TaskNotFoundError } from '../../src/errors.ts';
import { serveDashboard } from '../../src/http/dashboard/index.ts';
import type { ReeveNode } from '../../src/node/start-node.ts';
import type { FullTask } from '../../src/ports/task-store.ts';
import { submitRequestSchema, taskStateSchema } from '../../src/protocol/task.ts';
import { parseOrThrow } from '../../src/protocol/validate.ts';
import { systemClock } from '../../src/platform/system-clock.ts';

export interface ApiStub {
  url: string;
  close(): Promise<void>;
}

const STATUS: Record<string, number> = {
  [ErrorCode.InvalidInput]: 400,
  [ErrorCode.TaskNotFound]: 404,
  [ErrorCode.InvalidTransition]: 409,
  [ErrorCode.TaskTerminal]: 409,
};

/** The `show --json` record, with its `steps` (each step's visits and latest output), as the node serves it. */
function record(task: FullTask) {
  return publicRecord(task);
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  if (!text) return {};
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new InvalidInputError('request body', [{ path: 'body', message: 'must be JSON' }]);
  }
}

function send(res: ServerResponse, status: number, value: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(value));
}

async function latestLog(logDir: string, id: string): Promise<string | undefined> {
  const names = (await readdir(logDir).catch(() => [] as string[])).filter((n) => n.startsWith(`${id}.`) && n.endsWith('.log'));
  const dated = await Promise.all(names.map(async (n) => ({ n, at: (await stat(join(logDir, n))).mtimeMs })));
  const newest = dated.sort((a, b) => b.at - a.at)[0];
  return newest && readFile(join(logDir, newest.n), 'utf8');
}

export async function startApiStub(node: ReeveNode, options: { token: string; logDir: string }): Promise<ApiStub> {
  const { store, bus, subjects } = node.backend;
  const streams = new Set<ServerResponse>();

  async function getTask(id: string) {
    const task = await store.get(id);
    if (!task) throw new TaskNotFoundError(id);
    return record(task);
  }

  async function decide(id: string, op: string, input: Record<string, unknown>) {
    const reason = typeof input.reason === 'string' ? input.reason : undefined;
    if (op === 'cancel') await store.requestCancel(id, reason ?? 'cancelled from the dashboard');
    else if (op === 'retry') await store.reopen(id, reason ?? 'retried from the dashboard');
    else if (op === 'approve') await operateOnTask(store, systemClock, id, { op: 'approve', by: 'dashboard', ...(input.input === undefined ? {} : { input: input.input as Json }), ...(reason ? { reason } : {}) });
    else {
      if (!reason) throw new InvalidInputError('reject', [{ path: 'reason', message: 'is required to reject a task' }]);
      await operateOnTask(store, systemClock, id, { op: 'reject', by: 'dashboard', reason, ...(typeof input.goto === 'string' ? { goto: input.goto } : {}) });
    }
    node.dispatcher.wake();
    return { task: await getTask(id) };
  }

  async function api(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const path = url.pathname;
    const q = url.searchParams;
    if (path === '/api/v1/tasks' && req.method === 'GET') {
      const limit = Number(q.get('limit') ?? 100);
      const offset = q.get('cursor') ? Number(Buffer.from(q.get('cursor')!, 'base64url').toString()) : 0;
      const state = q.get('state') ? parseOrThrow(taskStateSchema, q.get('state'), 'state') : undefined;
      const rows = await store.query({ ...(state ? { state } : {}), ...(q.get('kind') ? { kind: q.get('kind')! } : {}), limit: Math.min(10_000, offset + limit + 1) });
      const page = rows.slice(offset, offset + limit);
      const next = rows.length > offset + limit ? Buffer.from(String(offset + limit)).toString('base64url') : undefined;
      return send(res, 200, { tasks: page.map((t) => record(t as FullTask)), ...(next ? { next } : {}) });
    }
    if (path === '/api/v1/tasks' && req.method === 'POST') {
      const submitted = await node.backend.submit(parseOrThrow(submitRequestSchema, await body(req), 'task submission'));
      node.dispatcher.wake();
      return send(res, submitted.created ? 201 : 200, { task: await getTask(submitted.id) });
    }
    const task = /^\/api\/v1\/tasks\/([^/]+)(?:\/(cancel|retry|approve|reject|log))?$/.exec(path);
    if (task && req.method === 'GET' && !task[2]) return send(res, 200, await getTask(task[1]!));
    if (task && req.method === 'GET' && task[2] === 'log') {
      await getTask(task[1]!);
      const text = (await latestLog(options.logDir, task[1]!)) ?? '';
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      return void res.end(text.slice(-Number(q.get('bytes') ?? 65536)));
    }
    if (task && req.method === 'POST' && task[2] && task[2] !== 'log') return send(res, 200, await decide(task[1]!, task[2], await body(req)));
    if (path === '/api/v1/status') {
      const report = await statusReport(store, Date.now(), node.backend.mode);
      // A node that said it stopped (drained) shows as drained (the dashboard asks the real server for the same).
      const stopped = new Set((await store.listNodes()).filter((n) => n.state === 'stopped').map((n) => n.id));
      return send(res, 200, { ...report, nodes: report.nodes.map((n) => (stopped.has(n.id) ? { ...n, state: 'drained' } : n)) });
    }
    if (path === '/api/v1/dead-letters') {
      const letters = await store.listDeadLetters(Number(q.get('limit') ?? 100));
      return send(res, 200, { deadLetters: letters.map((d) => ({ n: d.seq, receivedAt: d.receivedAt, source: d.source, code: d.code, reason: d.reason, excerpt: d.excerpt })) });
    }
    const letter = /^\/api\/v1\/dead-letters\/(\d+)$/.exec(path);
    if (letter) {
      const found = (await store.listDeadLetters(10_000)).find((d) => d.seq === Number(letter[1]));
      if (!found) return send(res, 404, { error: { code: 'NOT_FOUND', message: `no dead letter ${letter[1]}` } });
      return send(res, 200, { n: found.seq, receivedAt: found.receivedAt, source: found.source, code: found.code, reason: found.reason, excerpt: found.excerpt, body: found.payload });
    }
    if (path === '/api/v1/events') return events(res);
    send(res, 404, { error: { code: 'NOT_FOUND', message: `no route ${req.method} ${path}` } });
  }

  function events(res: ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-store', Connection: 'keep-alive' });
    res.write(': connected\n\n');
    const forward = (type: string) => (message: { data: unknown }) => void res.write(`event: ${type}\ndata: ${JSON.stringify(message.data)}\n\n`);
    const subs = [bus.subscribe(subjects.taskEvents, forward('task')), bus.subscribe(subjects.heartbeats, forward('node')), bus.subscribe(subjects.breakers, forward('breaker'))];
    streams.add(res);
    res.on('close', () => {
      streams.delete(res);
      for (const s of subs) s.unsubscribe();
    });
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://stub');
    void (async () => {
      try {
        if (await serveDashboard(req, res, url.pathname)) return;
        const auth = req.headers.authorization;
        if (!auth) return send(res, 401, { error: { code: 'UNAUTHORIZED', message: 'send Authorization: Bearer TOKEN' } });
        if (auth !== `Bearer ${options.token}`) return send(res, 403, { error: { code: 'FORBIDDEN', message: 'wrong token' } });
        await api(req, res, url);
      } catch (err) {
        const code = err instanceof ReeveError ? err.code : ErrorCode.Internal;
        if (!res.headersSent) send(res, STATUS[code] ?? 500, { error: { code, message: (err as Error).message } });
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const res of streams) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
