import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * The dashboard's seam: the server calls this for `GET /`, `/tasks/{id}` and `/assets/*`.
 * A placeholder until the dashboard lands: every path is a 404 in the API's error shape.
 */
export function serveDashboard(_req: IncomingMessage, res: ServerResponse, path: string): void | Promise<void> {
  const body = JSON.stringify({ error: { code: 'NOT_FOUND', message: `no dashboard page at ${path} in this build` } });
  res.writeHead(404, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}
