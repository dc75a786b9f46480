// The module runner's worker entry when it runs from the TypeScript sources (tests), in plain
// JS so that it loads under plain `node` in a worker thread: Node 20 does not apply `--import`
// loader hooks inside worker threads (checked: a `.ts` import there fails with
// ERR_UNKNOWN_FILE_EXTENSION), so TypeScript is loaded through tsx's scoped `tsImport`
// instead. Loading module-worker.ts starts serving the runner's batches.
import { tsImport } from 'tsx/esm/api';

await tsImport('./module-worker.ts', import.meta.url);
