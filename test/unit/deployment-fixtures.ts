import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * What the deployment-file tests share: the repository root and a reader for files in it, where
 * deploy/nats is and which nats-server runs it, the NATS users auth.conf defines with a random
 * password each, and Reeve's default names that auth.conf grants. Used by
 * deploy-nats-configs.test.ts, deployment-files.test.ts and docker-compose-and-dockerfile.test.ts.
 */

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const NATS_DIR = join(ROOT, 'deploy/nats');
export const NATS_SERVER = process.env.NATS_SERVER_BIN ?? (existsSync('/usr/sbin/nats-server') ? '/usr/sbin/nats-server' : 'nats-server');

export const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/**
 * The users auth.conf defines and the variables their passwords come from, read from the file;
 * each gets a random password here (a letter first: see auth.conf).
 */
export const USER_VARIABLES = Object.fromEntries(
  [...read('deploy/nats/auth.conf').matchAll(/\{\s*user:\s*(\w+),\s*password:\s*\$(\w+)/g)].map((m) => [m[1]!, m[2]!]),
) as Record<'publisher' | 'node' | 'operator' | 'approver' | 'sys', string>;
export const PASSWORDS: Record<string, string> = Object.fromEntries(Object.values(USER_VARIABLES).map((v) => [v, `p${randomBytes(12).toString('hex')}`]));
export const USERS = Object.fromEntries(Object.entries(USER_VARIABLES).map(([user, v]) => [user, PASSWORDS[v]!])) as Record<keyof typeof USER_VARIABLES, string>;

// The names auth.conf grants, which are Reeve's defaults (src/config/schema.ts).
export const STREAM = 'REEVE_SUBMIT';
export const CONSUMER = 'reeve-intake';
export const BUCKET = 'reeve-tasks';
export const PUBLISHER_INBOX = '_INBOX_publisher';
export const APPROVER_INBOX = '_INBOX_approver';
