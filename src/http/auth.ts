import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { ErrorCode, ReeveError } from '../errors.ts';

const TOKEN_FILE = 'http-token';

/**
 * The configured token, else the one kept in `dataDir/http-token`, else a new one written
 * there (mode 0600: it lets its holder cancel and approve tasks).
 */
export async function loadOrCreateToken(configured: string | undefined, dataDir: string): Promise<string> {
  if (configured !== undefined) return configured;
  const file = join(dataDir, TOKEN_FILE);
  const kept = await readFile(file, 'utf8').then(
    (text) => text.trim(),
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw new ReeveError(ErrorCode.ConfigInvalid, `cannot read the HTTP token from ${file}: ${err.message}; fix its permissions or set http.token`, { cause: err });
    },
  );
  if (kept !== '') return kept;
  const token = randomBytes(24).toString('base64url');
  // `wx`: two nodes sharing a dataDir must not overwrite each other's token.
  await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'wx' }).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw new ReeveError(ErrorCode.ConfigInvalid, `cannot write the HTTP token to ${file}: ${err.message}; set http.token instead`, { cause: err });
  });
  await chmod(file, 0o600).catch(() => undefined);
  return (await readFile(file, 'utf8')).trim();
}

export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
}

export interface AuthPolicy {
  token: string;
  /** Reads need the token too (the server is bound to a non-loopback address). */
  readsNeedToken: boolean;
  /** Lower-case host names (without port) a request's `Host` may carry. */
  allowedHosts: ReadonlySet<string>;
}

export function authPolicy(options: { token: string; host: string; allowedHosts?: readonly string[] | undefined }): AuthPolicy {
  const names = ['localhost', '127.0.0.1', '[::1]', '::1', options.host, ...(options.allowedHosts ?? [])].map((n) => n.toLowerCase());
  return { token: options.token, readsNeedToken: !isLoopback(options.host), allowedHosts: new Set(names) };
}

/** The `Host` header's name without its port (`[::1]:80` → `[::1]`). */
function hostName(header: string): string {
  const h = header.trim().toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const colon = h.lastIndexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}

/**
 * Refuses what the contract refuses: a `Host` the node does not answer to (DNS rebinding: a
 * page on evil.example resolving to 127.0.0.1 sends its own name), then a missing (401) or
 * wrong (403) bearer token where one is needed. The token may also come as `?token=` for
 * EventSource, which cannot set headers.
 */
export function checkRequest(req: IncomingMessage, policy: AuthPolicy, mutating: boolean, queryToken: string | null): void {
  const host = req.headers.host;
  if (host === undefined || !policy.allowedHosts.has(hostName(host))) {
    throw new ReeveError(ErrorCode.Forbidden, `Host ${JSON.stringify(host ?? '')} is not a name this node answers to; add it to http.allowedHosts`);
  }
  if (!mutating && !policy.readsNeedToken) return;
  const header = req.headers.authorization;
  const given = header?.startsWith('Bearer ') ? header.slice(7).trim() : mutating ? undefined : (queryToken ?? undefined);
  if (given === undefined || given === '') {
    throw new ReeveError(ErrorCode.Unauthorized, 'this request needs Authorization: Bearer TOKEN (the token is in the dashboard URL the node printed, or in dataDir/http-token)');
  }
  if (!sameToken(given, policy.token)) throw new ReeveError(ErrorCode.Forbidden, 'the bearer token is wrong');
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
