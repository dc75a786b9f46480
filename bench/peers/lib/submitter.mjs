/**
 * Submits COUNT no-op tasks at RATE/s through the public client API, from its own OS process
 * (as another program or the CLI would), into the project in DIR.
 *   node submitter.mjs ROOT DIR COUNT RATE
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { paced } from './common.mjs';

const [root, dir, count, rate] = process.argv.slice(2);
const { openReeveClient } = await import(pathToFileURL(join(root, 'dist', 'index.js')).href);
const c = await openReeveClient(undefined, { cwd: dir });
try {
  await paced(Number(count), Number(rate), () => c.submit({ kind: 'noop' }));
} finally {
  await c.close();
}
