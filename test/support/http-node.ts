import { request as httpRequest } from 'node:http';
import { randomUUID } from 'node:crypto';
import { project, reeve, startReeve, type CliResult } from './cli.ts';

export interface HttpNode {
  /** `http://127.0.0.1:PORT` */
  base: string;
  port: number;
  token: string;
  dir: string;
  process: ReturnType<typeof startReeve>;
  /** Any CLI command in the node's project (same store, same NATS). */
  cli(args: string[]): Promise<CliResult>;
  request(method: string, path: string, options?: RequestOptions): Promise<HttpAnswer>;
  stop(): Promise<void>;
}

export interface RequestOptions {
  /** JSON-encoded unless a string or Buffer. */
  body?: unknown;
  /** Default: the node's token on mutations only. `null`: none. */
  token?: string | null;
  headers?: Record<string, string>;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json(): any;
}

/**
 * A real `reeve start` process with HTTP on a free loopback port, on SQLite or on a real
 * nats-server (`natsUrl`), its dashboard URL read from stderr.
 */
export async function startHttpNode(options: { natsUrl?: string; agents: Record<string, unknown>; http?: Record<string, unknown>; secrets?: string[] }): Promise<HttpNode> {
  const tag = randomUUID().slice(0, 8);
  const p = project({
    node: { pollIntervalMs: 50, logLevel: 'warn', dataDir: '.reeve', leaseTtlMs: 3000 },
    ...(options.natsUrl ? { store: { type: 'nats', bucket: `http-${tag}` }, nats: { servers: [options.natsUrl], prefix: `h${tag}`, stream: `HTTP_${tag}` } } : {}),
    http: { port: 0, ...options.http },
    secrets: options.secrets ?? [],
    agents: options.agents,
  });
  const child = startReeve(p.dir);
  const until = Date.now() + 30_000;
  let url: string | undefined;
  while (!url) {
    url = /dashboard: (\S+)/.exec(child.stderrText())?.[1];
    if (child.exitCode !== null || Date.now() > until) {
      child.kill('SIGKILL');
      p.remove();
      throw new Error(`reeve start did not print its dashboard URL:\n${child.stderrText()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const token = url.slice(url.indexOf('#token=') + 7);
  const base = url.slice(0, url.indexOf('/#'));
  const port = Number(new URL(base).port);
  const request = (method: string, path: string, o: RequestOptions = {}) => send(port, method, path, { ...o, token: o.token === undefined ? (method === 'GET' ? null : token) : o.token });
  return {
    base,
    port,
    token,
    dir: p.dir,
    process: child,
    cli: (args) => reeve(p.dir, args),
    request,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await child.exited;
      clearTimeout(timer);
      p.remove();
    },
  };
}

export function send(port: number, method: string, path: string, o: RequestOptions = {}): Promise<HttpAnswer> {
  const body = o.body === undefined ? undefined : typeof o.body === 'string' || Buffer.isBuffer(o.body) ? o.body : JSON.stringify(o.body);
  const headers: Record<string, string> = { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...o.headers };
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: () => JSON.parse(text) });
      });
      res.on('error', reject);
    });
    // The server may answer 413 and close before the whole body is sent.
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
    req.end(body);
  });
}

/** Reads an SSE stream until `done` says so (or the timeout); returns the events seen. */
export function readEvents(port: number, path: string, done: (events: Array<{ event: string; data: any }>) => boolean, timeoutMs = 20_000, onOpen?: () => void): Promise<Array<{ event: string; data: any }>> {
  return new Promise((resolve, reject) => {
    const events: Array<{ event: string; data: any }> = [];
    const req = httpRequest({ host: '127.0.0.1', port, path }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`SSE answered ${res.statusCode}`));
      onOpen?.();
      let buffer = '';
      res.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf8');
        let end;
        while ((end = buffer.indexOf('\n\n')) !== -1) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
        if (done(events)) finish();
      });
    });
    const timer = setTimeout(() => finish(), timeoutMs);
    function finish() {
      clearTimeout(timer);
      req.destroy();
      resolve(events);
    }
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
    req.end();
  });
}
