import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * The node id is generated once and kept in the data dir, so a restarted node recognises its
 * previous incarnation's tasks. Written with `wx` so two nodes starting at once on one data
 * dir agree on one id.
 */
export async function readOrCreateNodeId(dataDir: string): Promise<string> {
  const file = join(dataDir, 'node-id');
  const existing = await readFile(file, 'utf8').catch(() => undefined);
  if (existing !== undefined) {
    const id = existing.trim();
    if (!NODE_ID.test(id)) throw new Error(`${file} holds "${id}", not a node id ([A-Za-z0-9_-]{1,64}); delete the file to get a new one`);
    return id;
  }
  const id = `n-${randomBytes(4).toString('hex')}`;
  try {
    await writeFile(file, `${id}\n`, { flag: 'wx' });
    return id;
  } catch {
    return (await readFile(file, 'utf8')).trim();
  }
}

/** Each start is a new incarnation of the node: `owner = nodeId:incarnation` fences its leases. */
export function newIncarnation(now: number): string {
  return `${now.toString(36)}${randomBytes(3).toString('hex')}`;
}
