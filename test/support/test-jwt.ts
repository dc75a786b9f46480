import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { nkeys } from '@nats-io/transport-node';

/**
 * Hand-rolled NATS JWTs for a nats-server in operator (decentralized JWT) mode: an operator
 * signs accounts, an account signs users, and a user's creds file holds its JWT and nkey seed.
 *
 * A NATS JWT is `base64url(header).base64url(claims).base64url(signature)`, the signature being
 * the issuer's ed25519 nkey signature over the first two parts. Only the claims these tests need:
 * no expiry, no signing keys, no imports or exports. `jti` is a random id: nats-server 2.9.10
 * does not check it against the hash of the claims that `nsc` puts there.
 */

type KeyPair = ReturnType<typeof nkeys.createUser>;

export interface TestOperator {
  publicKey: string;
  jwt: string;
  keyPair: KeyPair;
  /** The account the server uses for its own traffic; it must be known to the server too. */
  systemAccount: TestAccount;
}

export interface TestAccount {
  publicKey: string;
  jwt: string;
  keyPair: KeyPair;
}

export interface TestUser {
  publicKey: string;
  jwt: string;
  /** The nkey seed (`SU…`) the client signs the server's nonce with. */
  seed: string;
}

const HEADER = { typ: 'JWT', alg: 'ed25519-nkey' };

const base64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString('base64url');

/** A JWT about `subject` (a public key), issued and signed by `issuer`. */
function signJwt(issuer: KeyPair, subject: string, name: string, nats: Record<string, unknown>): string {
  const claims = {
    jti: randomBytes(20).toString('hex').toUpperCase(),
    iat: Math.floor(Date.now() / 1000),
    iss: issuer.getPublicKey(),
    name,
    sub: subject,
    nats: { ...nats, version: 2 },
  };
  const signed = `${base64url(JSON.stringify(HEADER))}.${base64url(JSON.stringify(claims))}`;
  return `${signed}.${base64url(issuer.sign(new TextEncoder().encode(signed)))}`;
}

/**
 * A self-signed operator (the server's trust root, `operator:` in its config) and its system
 * account: nats-server 2.9.10 refuses to start JetStream in operator mode without one.
 */
export function createTestOperator(name = 'reeve-test-operator'): TestOperator {
  const keyPair = nkeys.createOperator();
  const publicKey = keyPair.getPublicKey();
  const systemAccount = signAccount(keyPair, 'SYS', {});
  const jwt = signJwt(keyPair, publicKey, name, { type: 'operator', system_account: systemAccount.publicKey });
  return { publicKey, keyPair, jwt, systemAccount };
}

/** An account of `operator` without limits, JetStream included (the test server runs with `-js`). */
export function createTestAccount(operator: TestOperator, name = 'reeve-test-account'): TestAccount {
  return signAccount(operator.keyPair, name, { mem_storage: -1, disk_storage: -1, streams: -1, consumer: -1 });
}

function signAccount(operator: KeyPair, name: string, jetstreamLimits: Record<string, number>): TestAccount {
  const keyPair = nkeys.createAccount();
  const publicKey = keyPair.getPublicKey();
  const jwt = signJwt(operator, publicKey, name, {
    type: 'account',
    limits: { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1, ...jetstreamLimits },
    default_permissions: { pub: {}, sub: {} },
  });
  return { publicKey, keyPair, jwt };
}

/** A user of `account` that may publish and subscribe to anything. */
export function createTestUser(account: TestAccount, name = 'reeve-test-user'): TestUser {
  const keyPair = nkeys.createUser();
  const publicKey = keyPair.getPublicKey();
  const jwt = signJwt(account.keyPair, publicKey, name, { type: 'user', pub: {}, sub: {}, subs: -1, data: -1, payload: -1 });
  return { publicKey, jwt, seed: new TextDecoder().decode(keyPair.getSeed()) };
}

/** The text of a user's `.creds` file, in the layout `nsc generate creds` writes. */
export function credsText(user: TestUser): string {
  return [
    '-----BEGIN NATS USER JWT-----',
    user.jwt,
    '------END NATS USER JWT------',
    '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    'NKEYs are sensitive and should be treated as secrets.',
    '',
    '-----BEGIN USER NKEY SEED-----',
    user.seed,
    '------END USER NKEY SEED------',
    '',
    '*************************************************************',
    '',
  ].join('\n');
}

/** Writes `user`'s creds file at `path`, readable by its owner only; returns `path`. */
export function writeCredsFile(path: string, user: TestUser): string {
  writeFileSync(path, credsText(user), { mode: 0o600 });
  return path;
}
