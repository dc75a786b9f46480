import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, ReeveError, toError } from '../errors.ts';
import { MAX_INPUT_BYTES } from '../protocol/task.ts';

/** The largest request body: the 1 MiB input plus its envelope (id, kind, labels, JSON escapes of a few). */
export const MAX_BODY_BYTES = MAX_INPUT_BYTES + 64 * 1024;

/** The contract's HTTP status for each error code (the codes are the CLI's `--json` codes). */
const STATUS: Partial<Record<string, number>> = {
  [ErrorCode.InvalidInput]: 400,
  [ErrorCode.Unauthorized]: 401,
  [ErrorCode.Forbidden]: 403,
  [ErrorCode.TaskNotFound]: 404,
  [ErrorCode.NotFound]: 404,
  [ErrorCode.TaskTerminal]: 409,
  [ErrorCode.InvalidTransition]: 409,
  [ErrorCode.StoreConflict]: 409,
  [ErrorCode.LeaseLost]: 409,
  [ErrorCode.PayloadTooLarge]: 413,
  [ErrorCode.StoreUnavailable]: 503,
};

export function statusFor(code: string): number {
  return STATUS[code] ?? 500;
}

const SECURITY_HEADERS = { 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' };

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendText(res: ServerResponse, status: number, text: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * `{ error: { code, message } }` with the code's status. An error that is not a ReeveError is
 * a bug: its message may hold anything, so the client gets a generic one (the log has it).
 */
export function sendError(res: ServerResponse, err: unknown): void {
  const e = toError(err);
  const code = e instanceof ReeveError ? e.code : ErrorCode.Internal;
  const status = statusFor(code);
  const message = e instanceof ReeveError && status !== 500 ? e.message : code === ErrorCode.Internal ? 'internal error; see the node log' : e.message;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, status, { error: { code, message } });
}

/** Reads the body as UTF-8 text, refusing one over `MAX_BODY_BYTES` with 413 without reading it all. */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) return Promise.reject(tooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function tooLarge(limit: number): ReeveError {
  return new ReeveError(ErrorCode.PayloadTooLarge, `the request body is over ${limit} bytes (a task input may be at most ${MAX_INPUT_BYTES} bytes as JSON); pass a path or URL to large data instead`);
}
