import { readFileSync } from 'node:fs';
import {
  connect,
  credsAuthenticator,
  errors as natsErrors,
  nkeyAuthenticator,
  type Authenticator,
  type NatsConnection,
  type NodeConnectionOptions,
  type Status,
} from '@nats-io/transport-node';
import type { NatsConfig } from '../config/schema.ts';
import { ErrorCode, ReeveError, toError } from '../errors.ts';
import type { Logger } from '../ports/logger.ts';
import { coalesceNatsWrites } from './coalesced-writes.ts';

export interface ConnectNatsOptions {
  /** Connection name the server shows in its monitoring (the node id, or `reeve-cli`). Default `reeve`. */
  name?: string;
  /** How long one connect attempt (TCP, TLS and handshake) may take, in ms. Default 10000. */
  timeoutMs?: number;
  /** Pause between reconnect attempts to the same server, in ms. Default the client's 2000. */
  reconnectTimeWaitMs?: number;
}

/**
 * Connects with every auth option of the config and logs the connection's life (disconnects,
 * reconnects, server errors) until it closes. The first connect failing is a STORE_UNAVAILABLE
 * ReeveError that names the servers and the fix; once connected, the client reconnects forever
 * (`maxReconnectAttempts: -1`), buffering publishes meanwhile.
 */
export async function connectNats(config: NatsConfig, log: Logger, options: ConnectNatsOptions = {}): Promise<NatsConnection> {
  const connectionOptions = natsConnectionOptions(config, options);
  const servers = config.servers.map(redactServerUrl);
  let nc: NatsConnection;
  const coalesced = coalesceNatsWrites();
  try {
    nc = await connect(connectionOptions);
  } catch (thrown) {
    throw firstConnectFailed(servers, await whyTimedOut(toError(thrown), connectionOptions), connectionOptions.timeout ?? 0);
  }
  // The client upgrades to TLS whenever the server offers it (and fails when it is asked for and not offered).
  const tls = Boolean(nc.info?.tls_required || nc.info?.tls_available);
  log.info({ servers, server: redactServerUrl(nc.getServer()), name: connectionOptions.name, auth: authMethod(config), tls, coalescedWrites: coalesced }, 'connected to NATS');
  void logStatus(nc, log); // never rejects: it logs the end of the status events itself
  // closed() never rejects: it resolves with the error that closed the connection, if any.
  void nc.closed().then((err) => {
    if (err) log.error({ err, servers }, 'NATS connection closed for good; restart the node once NATS is reachable');
  });
  return nc;
}

/** The client options for a config; secrets are read here (nkey seed file, creds file), never logged. */
export function natsConnectionOptions(config: NatsConfig, options: ConnectNatsOptions = {}): NodeConnectionOptions {
  const authenticators: Authenticator[] = [];
  if (config.nkey !== undefined) authenticators.push(nkeyAuthenticator(new TextEncoder().encode(nkeySeed(config.nkey))));
  if (config.creds !== undefined) authenticators.push(credsAuthenticator(readSecretFile(config.creds, 'nats.creds', 'the .creds file `nsc generate creds` wrote')));
  return {
    servers: [...config.servers],
    name: options.name ?? 'reeve',
    ...(config.user !== undefined ? { user: config.user } : {}),
    ...(config.pass !== undefined ? { pass: config.pass } : {}),
    ...(config.token !== undefined ? { token: config.token } : {}),
    ...(authenticators.length > 0 ? { authenticator: authenticators } : {}),
    ...(config.tls || config.servers.some(isTlsUrl) ? { tls: tlsFiles(config.tls ?? {}) } : {}),
    timeout: options.timeoutMs ?? 10_000,
    ...(options.reconnectTimeWaitMs !== undefined ? { reconnectTimeWait: options.reconnectTimeWaitMs } : {}),
    // A node must outlive any NATS outage and resume on its own: never stop reconnecting,
    // not even after the server refuses the credentials twice (they may be fixed server-side).
    maxReconnectAttempts: -1,
    ignoreAuthErrorAbort: true,
    // The first connect must fail fast with a clear error instead of retrying in the background.
    waitOnFirstConnect: false,
    // Async stack traces cost ~25% CPU on a busy node (measured).
    noAsyncTraces: true,
  };
}

/**
 * `tls://host:4222` asks for TLS, as in the other NATS clients; nats.js ignores the scheme and
 * would speak plain text to a server without TLS, so a `tls://` URL sets the `tls` option, and
 * the client then refuses such a server. It applies to every server of the list.
 */
function isTlsUrl(url: string): boolean {
  return /^\s*tls:\/\//i.test(url);
}

function tlsFiles(tls: NonNullable<NatsConfig['tls']>): NonNullable<NodeConnectionOptions['tls']> {
  return {
    ...(tls.ca !== undefined ? { caFile: tls.ca } : {}),
    ...(tls.cert !== undefined ? { certFile: tls.cert } : {}),
    ...(tls.key !== undefined ? { keyFile: tls.key } : {}),
  };
}

/** An nkey user seed looks like `SUAM…` (base32, 58 characters); anything else is a file holding one. */
const SEED = /\bS[A-Z][A-Z2-7]{56}\b/;

/** `nats.nkey` is either the seed itself or the path of a file containing it (as `nsc` writes it, possibly with comments). */
export function nkeySeed(value: string): string {
  const direct = value.trim();
  if (SEED.test(direct) && direct.length === 58) return direct;
  // A mistyped seed must not be echoed as if it were a file name.
  if (/^S[A-Z2-7]{20,}$/.test(direct)) {
    throw new ReeveError(ErrorCode.ConfigInvalid, 'nats.nkey looks like an nkey seed but is not a valid one (expected 58 characters of A-Z and 2-7, starting with "SU")', {
      data: { field: 'nats.nkey' },
    });
  }
  const seed = readSecretFile(value, 'nats.nkey', 'a file containing an nkey seed (SU…), or the seed itself').toString('utf8').match(SEED)?.[0];
  if (!seed) {
    throw new ReeveError(ErrorCode.ConfigInvalid, `nats.nkey: ${value} holds no nkey seed (a 58-character string starting with "SU"); generate one with \`nk -gen user\``, {
      data: { field: 'nats.nkey', path: value },
    });
  }
  return seed;
}

function readSecretFile(path: string, field: string, expected: string): Buffer {
  try {
    return readFileSync(path);
  } catch (thrown) {
    const err = toError(thrown);
    throw new ReeveError(ErrorCode.ConfigInvalid, `${field}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? err.message}); expected ${expected}`, {
      cause: err,
      data: { field, path },
    });
  }
}

function authMethod(config: NatsConfig): string {
  const methods = [config.user !== undefined && 'user', config.token !== undefined && 'token', config.nkey !== undefined && 'nkey', config.creds !== undefined && 'creds'];
  return methods.filter(Boolean).join('+') || 'none';
}

/** Hides the password of `nats://user:pass@host` (the client accepts credentials in the URL). */
export function redactServerUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/)?([^:@/]+):[^@/]*@/i, (_, scheme: string | undefined, user: string) => `${scheme ?? ''}${user}:***@`);
}

const PROBE_TIMEOUT_MS = 5_000;

/**
 * nats.js (3.4) reports a server that closes the connection after the TLS handshake but before
 * the first PONG as a timeout when reconnecting is on (the close starts a reconnect that joins
 * the pending first connect, and nothing rejects it). A TLS 1.3 server refusing the client's
 * certificate (`verify`) does just that: its alert comes after the client's side of the
 * handshake is done. So after a timeout with TLS, one attempt without reconnecting gets the
 * server's real answer; if it times out too, or connects, the timeout stands.
 */
async function whyTimedOut(err: Error, options: NodeConnectionOptions): Promise<Error> {
  if (!(err instanceof natsErrors.TimeoutError) || !options.tls) return err;
  try {
    // Its own timeout: the server's alert comes right after the handshake, which on a loaded
    // machine may take longer than a short connect timeout allowed the first attempt.
    // In list order, so a list of servers is probed as the operator wrote it.
    const probe = await connect({ ...options, name: `${options.name ?? 'reeve'}-probe`, reconnect: false, noRandomize: true, timeout: PROBE_TIMEOUT_MS });
    await probe.close().catch(() => undefined);
    return err;
  } catch (thrown) {
    // Only a TLS answer explains the timeout; anything else (another server of the list
    // refusing the probe) would hide the real failure.
    const answer = toError(thrown);
    // The alert and the server's close race: on a loaded machine the client may read the
    // reset before the alert.
    // (Node's "disconnected before secure TLS connection was established" is a reset during the
    // handshake, not after it: left to the generic TLS reason.)
    if ((answer as { code?: unknown }).code === 'ECONNRESET' && !/before secure TLS connection/i.test(answer.message)) return new ResetAfterTlsHandshake(answer);
    return /tls|ssl|certificate|alert/i.test(`${answer.message} ${errorText(answer)}`) ? answer : err;
  }
}

/** The server reset the connection once TLS was set up, before saying anything in NATS. */
class ResetAfterTlsHandshake extends Error {
  constructor(cause: Error) {
    super(`the server reset the connection right after the TLS handshake (${cause.message})`, { cause });
  }
}

/** The readable part of an OpenSSL error (`reason`, e.g. "sslv3 alert bad certificate"), else the message. */
function errorText(err: Error): string {
  const { library, reason } = err as Error & { library?: unknown; reason?: unknown };
  return typeof library === 'string' && typeof reason === 'string' ? `${reason} (${library})` : err.message;
}

/** Socket errors that mean nothing answered at that address. */
const UNREACHABLE_CODES: ReadonlySet<string> = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function firstConnectFailed(servers: string[], err: Error, timeoutMs: number): ReeveError {
  const where = servers.join(', ');
  const message = err.message.toLowerCase();
  let reason: string;
  let fix: string;
  if (err instanceof natsErrors.AuthorizationError || message.includes('authorization') || message.includes('authentication')) {
    reason = 'auth';
    fix =
      "the server refused the credentials: check nats.user/nats.pass, nats.token, nats.nkey or nats.creds against the server's authorization config (with nats.creds: that the server's resolver knows the user's account, and that the user is neither revoked nor expired)";
  } else if (message.includes("does not support 'tls'")) {
    reason = 'tls';
    fix = 'the server offers no TLS, but nats.tls or a tls:// URL asks for it: give the server a `tls { cert_file, key_file }` block';
  } else if (UNREACHABLE_CODES.has(String((err as { code?: unknown }).code))) {
    // Before the TLS patterns: a host name may well contain "tls".
    reason = 'unreachable';
    fix = 'start nats-server (e.g. `nats-server -js`) or fix nats.servers (REEVE_NATS__SERVERS)';
  } else if (/alert (bad certificate|certificate required|unknown ca|certificate unknown|certificate expired)/.test(message)) {
    reason = 'tls';
    fix = 'the server refused this client\'s certificate or its absence (it verifies clients): set nats.tls.cert and nats.tls.key to a certificate signed by a CA in the server\'s tls ca_file';
  } else if (err instanceof ResetAfterTlsHandshake) {
    reason = 'tls';
    fix = 'most likely the server verifies clients and refused this one\'s certificate or its absence: set nats.tls.cert and nats.tls.key to a certificate signed by a CA in the server\'s tls ca_file';
  } else if (/tls|certificate|ssl|self.signed|handshake/.test(message)) {
    reason = 'tls';
    fix = 'the TLS handshake failed: check nats.tls.ca, nats.tls.cert and nats.tls.key, and that the server\'s certificate names this host';
  } else if (message.includes('timeout')) {
    reason = 'timeout';
    fix = `no answer within ${timeoutMs} ms: check that nats-server runs there and that nats.servers (REEVE_NATS__SERVERS) is right`;
  } else {
    reason = 'unreachable';
    fix = 'start nats-server (e.g. `nats-server -js`) or fix nats.servers (REEVE_NATS__SERVERS)';
  }
  return new ReeveError(ErrorCode.StoreUnavailable, `cannot connect to NATS at ${where}: ${redactServerUrl(errorText(err))}; ${fix}`, {
    cause: err,
    data: { servers, reason },
  });
}

async function logStatus(nc: NatsConnection, log: Logger): Promise<void> {
  try {
    for await (const status of nc.status()) logOne(status, log);
  } catch (thrown) {
    log.warn({ err: toError(thrown) }, 'NATS status events ended');
  }
}

function logOne(status: Status, log: Logger): void {
  switch (status.type) {
    case 'disconnect':
      return log.warn({ server: redactServerUrl(status.server) }, 'NATS connection lost; reconnecting');
    case 'reconnecting':
      return log.debug('NATS reconnecting');
    case 'reconnect':
      return log.info({ server: redactServerUrl(status.server) }, 'NATS reconnected');
    case 'error':
      return log.error({ err: status.error }, 'NATS error');
    case 'ldm':
      return log.warn({ server: redactServerUrl(status.server) }, 'NATS server entering lame-duck mode; moving to another');
    case 'staleConnection':
      return log.warn('NATS connection stale (pings unanswered); reconnecting');
    case 'slowConsumer':
      return log.warn({ subject: status.sub.getSubject(), pending: status.pending }, 'NATS slow consumer: a subscription is falling behind');
    case 'update':
      return log.debug({ added: status.added, deleted: status.deleted }, 'NATS cluster servers changed');
    case 'forceReconnect':
      return log.info('NATS reconnect forced');
    case 'close':
      return log.info('NATS connection closed');
    case 'ping':
      return undefined; // every ping interval: noise
  }
}
