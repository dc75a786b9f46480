import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY, serveDashboard } from '../../src/http/dashboard/index.ts';

type Serve = (req: IncomingMessage, res: ServerResponse, path: string) => Promise<boolean>;

/** A bare node:http server that gives every request to `serve` and answers 404 when it declines. */
async function host(serve: Serve) {
  const server = createServer((req, res) => {
    void serve(req, res, new URL(req.url ?? '/', 'http://x').pathname).then((mine) => {
      if (!mine) res.writeHead(404).end('not the dashboard');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('dashboard assets', () => {
  let server: Awaited<ReturnType<typeof host>>;
  beforeAll(async () => (server = await host(serveDashboard)));
  afterAll(async () => server.close());

  it('serves the overview at / and the task page at /tasks/{id}, with a CSP that allows no inline script', async () => {
    const root = await fetch(`${server.base}/`);
    expect(root.status).toBe(200);
    expect(root.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(root.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(CONTENT_SECURITY_POLICY).toContain("script-src 'self'");
    expect(CONTENT_SECURITY_POLICY).not.toContain('unsafe-inline');
    expect(root.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await root.text();
    expect(html).toContain('<script type="module" src="/assets/overview.js">');
    // No inline script: every <script> names a file.
    expect(html.match(/<script(?![^>]*\bsrc=)[^>]*>/g)).toBeNull();
    const task = await fetch(`${server.base}/tasks/t_1-a`);
    expect(task.status).toBe(200);
    expect(await task.text()).toContain('/assets/task-page.js');
  });

  it('serves assets with their content type and revalidates them by ETag (304)', async () => {
    const js = await fetch(`${server.base}/assets/overview.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('cache-control')).toBe('no-cache');
    const etag = js.headers.get('etag')!;
    expect(etag).toMatch(/^".+"$/);
    const again = await fetch(`${server.base}/assets/overview.js`, { headers: { 'If-None-Match': etag } });
    expect(again.status).toBe(304);
    expect((await fetch(`${server.base}/assets/style.css`)).headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect((await fetch(`${server.base}/assets/favicon.svg`)).headers.get('content-type')).toBe('image/svg+xml');
    const head = await fetch(`${server.base}/assets/api.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(Number(head.headers.get('content-length'))).toBeGreaterThan(100);
  });

  it('declines every path that is not its own, and paths that try to leave the assets folder', async () => {
    for (const path of ['/api/v1/tasks', '/healthz', '/assets/nope.js', '/assets/..%2Findex.ts', '/assets/../index.ts', '/tasks/a%20b', '/tasks/a/b', '/assets/']) {
      const res = await fetch(`${server.base}${path}`);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
    }
    expect((await fetch(`${server.base}/`, { method: 'POST' })).status).toBe(404);
  });

  it('finds its assets from the compiled dist/ module too (they ship in src/)', async () => {
    // dist/ is what `npm run build` made (`npm test` builds first, as the bin's tests need).
    const compiled = new URL('../../dist/http/dashboard/index.js', import.meta.url);
    expect(existsSync(compiled), 'run `npm run build` first').toBe(true);
    const mod = (await import(compiled.href)) as { serveDashboard: Serve; ASSETS_DIR: string };
    expect(mod.ASSETS_DIR).toBe(fileURLToPath(new URL('../../src/http/dashboard/assets/', import.meta.url)));
    const dist = await host(mod.serveDashboard);
    try {
      expect((await fetch(`${dist.base}/assets/task-page.js`)).status).toBe(200);
    } finally {
      await dist.close();
    }
  });
});
