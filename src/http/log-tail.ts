import { open } from 'node:fs/promises';
import { ErrorCode, ReeveError } from '../errors.ts';
import { latestRunLog } from '../views/run-log-file.ts';

/**
 * The tail of a task's latest run log (command agents write `<dataDir>/logs/<taskId>.<run>.log`,
 * see pool/run-log.ts), redacted again with the config's secrets: the file is redacted as
 * written, but the config may have gained a secret since. A cluster node has the logs of the
 * runs it ran.
 */
export async function readLogTail(logDir: string, taskId: string, bytes: number, secrets: readonly string[]): Promise<string> {
  const latest = await latestRunLog(logDir, taskId);
  if (!latest) throw new ReeveError(ErrorCode.NotFound, `no run log for task ${taskId} on this node (only command agents write one, on the node that ran them)`);
  const handle = await open(latest, 'r');
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
