import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ErrorCode, InvalidInputError, ReeveError, toError } from '../errors.ts';
import type { Logger } from '../ports/logger.ts';
import { parseOrThrow } from '../protocol/validate.ts';
import { API_ROUTES, type ApiContext, type ApiRoute } from './api-routes.ts';
import { checkRequest, type AuthPolicy } from './auth.ts';
import { serveBridgePage, serveDashboard } from './dashboard/index.ts';
import type { EventFeed } from './event-feed.ts';
import { readBody, sendError, sendJson, sendText } from './http-io.ts';
import { redact } from './log-tail.ts';
import type { NodeMetrics } from './metrics.ts';
import { openApiDocument } from './openapi.ts';
import { noQuerySchema } from './schemas.ts';
import { SseHub } from './sse.ts';

export type Readiness = { ready: true } | { ready: false; reason: string };

export interface HttpServerOptions {
  host: string;
  port: number;
  auth: AuthPolicy;
  api: ApiContext;
  feed: EventFeed;
  metrics: NodeMetrics;
  readiness(): Promise<Readiness>;
  log: Logger;
  version: string;
  /** Serve `GET /inspect`, the bridge page to Stately's inspector (the relay is on). */
  inspectPage?: boolean;
}

export interface HttpServer {
  readonly host: string;
  readonly port: number;
  /** The node:http server (the inspector relay takes its WebSocket upgrades). */
  readonly server: Server;
  /** Stops listening and ends every open connection (SSE streams included). */
  close(): Promise<void>;
}

interface CompiledRoute {
  route: ApiRoute;
  pattern: RegExp;
  names: string[];
}

function compile(route: ApiRoute): CompiledRoute {
  const names: string[] = [];
  const source = route.path.replace(/\{(\w+)\}/g, (_, name: string) => (names.push(name), '([^/]+)'));
  return { route, pattern: new RegExp(`^${source}$`), names };
}

const DASHBOARD = /^\/(?:tasks\/[^/]+|assets\/.+)?$/;

export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const routes = API_ROUTES.map(compile);
  const openapi = JSON.stringify(openApiDocument(API_ROUTES, options.version));
  const secrets = options.api.config.secrets;
  const redactText = secrets.length === 0 ? (t: string) => t : (t: string) => redact(t, secrets);
  const events = new SseHub(options.feed, redactText);

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://reeve.invalid');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const mutating = method !== 'GET' && method !== 'HEAD';
    const token = url.searchParams.get('token');
    // Probes and the static pages (dashboard, inspector bridge) carry no data: the Host check only.
    const bridge = options.inspectPage === true && path === '/inspect';
    const open = path === '/healthz' || path === '/readyz' || (!mutating && (DASHBOARD.test(path) || bridge));
    checkRequest(req, open ? { ...options.auth, readsNeedToken: false } : options.auth, mutating, token);
    if (!mutating && (path === '/healthz' || path === '/readyz' || path === '/metrics' || path === '/api/v1/openapi.json' || path === '/api/v1/events')) {
      parseOrThrow(noQuerySchema, queryOf(url), 'query');
    }
    if (method === 'GET' && path === '/healthz') return sendJson(res, 200, { ok: true });
    if (method === 'GET' && path === '/readyz') {
      const r = await options.readiness();
      return sendJson(res, r.ready ? 200 : 503, r);
    }
    if (method === 'GET' && path === '/metrics') return sendText(res, 200, await options.metrics.render(), options.metrics.contentType);
    if (method === 'GET' && path === '/api/v1/openapi.json') return sendText(res, 200, openapi, 'application/json; charset=utf-8');
    if (method === 'GET' && path === '/api/v1/events') return events.serve(req, res);
    if ((method === 'GET' || method === 'HEAD') && DASHBOARD.test(path) && (await serveDashboard(req, res, path))) return;
    if ((method === 'GET' || method === 'HEAD') && bridge && serveBridgePage(req, res)) return;
    const found = routes.map((r) => ({ r, m: r.pattern.exec(path) })).filter((x) => x.m !== null);
    const match = found.find((x) => x.r.route.method === method);
    if (!match) {
      if (found.length > 0) throw new ReeveError(ErrorCode.InvalidInput, `${method} is not allowed on ${path}; use ${found.map((x) => x.r.route.method).join(' or ')}`);
      throw new ReeveError(ErrorCode.NotFound, `no such endpoint: ${method} ${path}; see /api/v1/openapi.json`);
    }
    const { route, names } = match.r;
    const params = parseOrThrow(route.params ?? noQuerySchema, Object.fromEntries(names.map((n, i) => [n, decodeSegment(match.m![i + 1]!, n)])), 'path parameter');
    const query = parseOrThrow(route.query, queryOf(url), 'query');
    const body = route.body ? parseOrThrow(route.body, await jsonBody(req), 'request body') : undefined;
    const result = await route.handle(options.api, { params, query, body });
    if ('json' in result) return sendText(res, result.status, redactText(JSON.stringify(result.json)), 'application/json; charset=utf-8');
    return sendText(res, result.status, redactText(result.text), result.contentType);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const e = toError(err);
      if (!(e instanceof ReeveError) || e.code === ErrorCode.Internal) options.log.error({ err: e, method: req.method, url: req.url?.split('?')[0] }, 'HTTP request failed');
      sendError(res, e);
    });
  });
  // A client that opens a connection and never sends its headers must not hold it forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  return {
    host: options.host,
    port: address.port,
    server,
    close: async () => {
      events.close();
      options.feed.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}

/** The query as one value per key: a repeated key (`?state=a&state=b`) is refused, not read as its last value or as an OR. */
function queryOf(url: URL): Record<string, string> {
  // No prototype: `?__proto__=x` is an unknown key like any other, not a prototype write.
  const query = Object.create(null) as Record<string, string>;
  for (const [k, v] of url.searchParams) {
    if (k === 'token') continue;
    if (Object.hasOwn(query, k)) throw new InvalidInputError('query', [{ path: k, message: 'is given more than once; give it once' }]);
    query[k] = v;
  }
  return query;
}

function decodeSegment(segment: string, name: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new InvalidInputError('path parameter', [{ path: name, message: 'is not valid percent-encoding' }]);
  }
}

async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req);
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new InvalidInputError('request body', [{ path: '(body)', message: `is not JSON: ${(err as Error).message}` }]);
  }
}
