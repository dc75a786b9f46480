import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The newest run log of a task in `logDir`: command runs write `<taskId>.<runId suffix>.log`
 * there (see pool/run-log.ts). Undefined when this machine has none (module agents write none; in a
 * cluster the logs are on the node that ran the task).
 */
export async function latestRunLog(logDir: string, taskId: string): Promise<string | undefined> {
  const names = await readdir(logDir).catch(() => [] as string[]);
  const prefix = `${taskId}.`;
  let latest: { file: string; mtimeMs: number } | undefined;
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.log') || name.slice(prefix.length, -4).includes('.')) continue;
    const file = join(logDir, name);
    const { mtimeMs } = await stat(file).catch(() => ({ mtimeMs: -1 }));
    if (mtimeMs >= 0 && (!latest || mtimeMs > latest.mtimeMs)) latest = { file, mtimeMs };
  }
  return latest?.file;
}
