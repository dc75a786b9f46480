/**
 * Runs in start-check.ts's worker thread: loads a module agent exactly as module-worker.ts
 * does (the same tsx call, made from a module that tsx loaded, which decides how a CommonJS
 * `.ts` file's exports appear) and says what its export is. It never calls the agent.
 */
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import { moduleExports } from '../platform/module-exports.ts';

export async function probe(file: string, exportName: string): Promise<{ type?: string; error?: string }> {
  try {
    const url = pathToFileURL(file).href;
    // Unwrapped as module-worker.ts does: a .ts file of a CommonJS project arrives wrapped.
    const loaded = moduleExports(await (/\.[mc]?tsx?$/.test(file) ? tsImport(url, import.meta.url) : import(url)));
    return { type: typeof loaded[exportName] };
  } catch (err) {
    // The first lines say what is wrong (a transform error lists its position on the next ones).
    const message = err instanceof Error ? err.message : String(err);
    return { error: message.split('\n').slice(0, 3).join(' ').replace(/\s+/g, ' ').trim() };
  }
}
