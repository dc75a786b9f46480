import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, ReeveError } from '../errors.ts';

/**
 * The tail of a task's latest run log (command agents write `<dataDir>/logs/<taskId>.<run>.log`,
 * see pool/run-log.ts), redacted again with the config's secrets: the file is redacted as
 * written, but the config may have gained a secret since. A cluster node has the logs of the
 * runs it ran.
 */
export async function readLogTail(logDir: string, taskId: string, bytes: number, secrets: readonly string[]): Promise<string> {
  const names = await readdir(logDir).catch(() => [] as string[]);
  const prefix = `${taskId}.`;
  let latest: { file: string; mtimeMs: number } | undefined;
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.log') || name.slice(prefix.length, -4).includes('.')) continue;
    const file = join(logDir, name);
    const { mtimeMs } = await stat(file).catch(() => ({ mtimeMs: -1 }));
    if (mtimeMs >= 0 && (!latest || mtimeMs > latest.mtimeMs)) latest = { file, mtimeMs };
  }
  if (!latest) throw new ReeveError(ErrorCode.NotFound, `no run log for task ${taskId} on this node (only command agents write one, on the node that ran them)`);
  const handle = await open(latest.file, 'r');
  try {
    const { size } = await handle.stat();
    const length = Math.min(size, bytes);
    const buffer = Buffer.alloc(length);
    await handle.read(buffer, 0, length, size - length);
    let text = buffer.toString('utf8');
    // Cut to whole lines (the first may be partial, or start inside a UTF-8 sequence).
    if (length < size) text = text.slice(text.indexOf('\n') + 1);
    return redact(text, secrets);
  } finally {
    await handle.close();
  }
}

/** Same rule as the run log: values under 4 characters are not redacted (they would shred the text). */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...secrets].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)) out = out.split(secret).join('[redacted]');
  return out;
}
