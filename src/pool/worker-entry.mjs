// Piscina's worker entry, in plain JS so that it loads under plain `node` in a worker thread:
// Node 20 does not apply `--import` loader hooks inside worker threads (checked: a `.ts`
// import there fails with ERR_UNKNOWN_FILE_EXTENSION), so TypeScript is loaded through
// tsx's scoped `tsImport` instead.
import { tsImport } from 'tsx/esm/api';

const worker = await tsImport('./module-worker.ts', import.meta.url);
export default worker.default;
