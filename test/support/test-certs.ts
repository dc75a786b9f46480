import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './temp-dir.ts';

/** PEM files of a throwaway PKI, all in one temp directory. */
export interface TestCerts {
  dir: string;
  /** The CA certificate that signed both `server` and `client`. */
  ca: string;
  /** Server certificate for `127.0.0.1` and `localhost` (subjectAltName IP and DNS), and its key. */
  server: { cert: string; key: string };
  /** Client certificate (extendedKeyUsage clientAuth), and its key. */
  client: { cert: string; key: string };
  /** A second CA that signed nothing here: trusting it instead of `ca` must fail verification. */
  otherCa: string;
  /** Deletes the directory. */
  remove(): void;
}

const OPENSSL = 'openssl'; // from PATH (.ci/run installs it when missing)
const DAYS = '2';

/**
 * A CA, a server certificate for 127.0.0.1/localhost and a client certificate, both signed by
 * that CA, plus an unrelated CA; written with `openssl` into a fresh temp directory. EC P-256
 * keys, so the whole set takes a few tens of milliseconds.
 */
export function createTestCerts(): TestCerts {
  const dir = tempDir('reeve-certs-');
  const at = (name: string) => join(dir.path, name);
  const openssl = (...args: string[]) => execFileSync(OPENSSL, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  const key = (name: string) => openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', at(name));
  const selfSignedCa = (name: string, subject: string) => {
    key(`${name}-key.pem`);
    openssl('req', '-x509', '-new', '-key', at(`${name}-key.pem`), '-subj', subject, '-days', DAYS, '-out', at(`${name}.pem`),
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  };
  /** A leaf signed by `ca`; `extensions` is an openssl extension section, passed as a file. */
  const leaf = (name: string, subject: string, extensions: string) => {
    key(`${name}-key.pem`);
    openssl('req', '-new', '-key', at(`${name}-key.pem`), '-subj', subject, '-out', at(`${name}.csr`));
    writeFileSync(at(`${name}.ext`), extensions);
    openssl('x509', '-req', '-in', at(`${name}.csr`), '-CA', at('ca.pem'), '-CAkey', at('ca-key.pem'), '-CAcreateserial',
      '-days', DAYS, '-extfile', at(`${name}.ext`), '-out', at(`${name}.pem`));
  };
  try {
    selfSignedCa('ca', '/CN=Reeve test CA');
    selfSignedCa('other-ca', '/CN=Reeve unrelated test CA');
    leaf('server', '/CN=localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    leaf('client', '/CN=reeve-test-client', 'extendedKeyUsage=clientAuth\n');
  } catch (err) {
    dir.remove();
    throw err;
  }
  return {
    dir: dir.path,
    ca: at('ca.pem'),
    server: { cert: at('server.pem'), key: at('server-key.pem') },
    client: { cert: at('client.pem'), key: at('client-key.pem') },
    otherCa: at('other-ca.pem'),
    remove: dir.remove,
  };
}
