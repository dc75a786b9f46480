/**
 * The dashboard's pages and assets: `GET /` (the task table), `GET /tasks/{id}` (one task) and
 * `GET /assets/*`. Plain HTML, CSS and ES modules read from `assets/` beside this module, kept in
 * memory after the first request; no build step, no CDN. The pages talk to `/api/v1/*` with the
 * bearer token they keep in sessionStorage.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { TASK_ID_PATTERN } from '../../protocol/task.ts';

/**
 * From src/ (tests, tsx) the assets sit beside this file; the compiled dist/http/dashboard/index.js
 * has none beside it (tsc copies no assets), so it reads them from the package's src/, which the
 * package ships (package.json "files").
 */
export const ASSETS_DIR = fileURLToPath(new URL(import.meta.url.endsWith('.ts') ? './assets/' : '../../../src/http/dashboard/assets/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** No inline script or style, nothing from elsewhere; the pages only fetch their own origin. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

let assets: Map<string, Asset> | undefined;

function loadAssets(): Map<string, Asset> {
  const map = new Map<string, Asset>();
  for (const name of readdirSync(ASSETS_DIR)) {
    const type = TYPES[extname(name)];
    if (!type) continue;
    const body = readFileSync(join(ASSETS_DIR, name));
    map.set(name, { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` });
  }
  return map;
}

/** Which asset a path names, or undefined when the path is not the dashboard's. */
function route(path: string): string | undefined {
  if (path === '/' || path === '/index.html') return 'index.html';
  const task = /^\/tasks\/([^/]+)$/.exec(path);
  if (task) return TASK_ID_PATTERN.test(task[1]!) ? 'task.html' : undefined;
  const asset = /^\/assets\/([a-z0-9-]+\.[a-z]+)$/.exec(path);
  // Only names that are in the folder: a map lookup, so no path can leave it.
  if (asset && !PAGES.has(asset[1]!)) return asset[1];
  return undefined;
}

/** Pages are served at their own paths only (each with its CSP), never as assets. */
const PAGES = new Set(['index.html', 'task.html', 'inspect.html']);

/**
 * The bridge page's policy: the dashboard's, plus Stately's inspector in a frame and the
 * `/inspect` WebSocket of the origin the page came from (`host`: the checked Host header).
 */
export function bridgePolicy(host: string): string {
  return CONTENT_SECURITY_POLICY.replace("connect-src 'self'", `connect-src 'self' ws://${host} wss://${host}`).replace("default-src 'none'", `default-src 'none'; frame-src ${STATELY_INSPECTOR_ORIGIN}`);
}

/** Where Stately's inspector UI lives (the bridge page frames it; it needs internet). */
export const STATELY_INSPECTOR_ORIGIN = 'https://stately.ai';

/**
 * Serves `path` (the URL path without its query) when it is the dashboard's and returns true;
 * returns false for any other path or method, so the server answers it (404, 405).
 */
export async function serveDashboard(req: IncomingMessage, res: ServerResponse, path: string): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const name = route(path);
  if (name === undefined) return false;
  return serveAsset(req, res, name, CONTENT_SECURITY_POLICY);
}

/** `GET /inspect`: the page that forwards the node's inspection stream to Stately's inspector. */
export function serveBridgePage(req: IncomingMessage, res: ServerResponse): boolean {
  return serveAsset(req, res, 'inspect.html', bridgePolicy(req.headers.host ?? 'localhost'));
}

function serveAsset(req: IncomingMessage, res: ServerResponse, name: string, policy: string): boolean {
  assets ??= loadAssets();
  const asset = assets.get(name);
  if (!asset) return false;
  res.setHeader('Content-Type', asset.type);
  res.setHeader('ETag', asset.etag);
  // Revalidated on every load (cheap: a 304), so a new package version is picked up at once.
  res.setHeader('Cache-Control', 'no-cache');
  res.setHeader('Content-Security-Policy', policy);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('X-Frame-Options', 'DENY');
  if (req.headers['if-none-match'] === asset.etag) {
    res.statusCode = 304;
    res.end();
    return true;
  }
  res.statusCode = 200;
  res.setHeader('Content-Length', asset.body.length);
  res.end(req.method === 'HEAD' ? undefined : asset.body);
  return true;
}
