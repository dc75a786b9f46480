#!/usr/bin/env node
// The `reeve` command: plain Node runs the compiled CLI (dist/, built by `npm run build`, which
// `npm ci`, `npm install` and `npm pack` run through `prepare`). One process, no wrapper, so
// signals reach the node itself.
const { main, exitWhenFlushed } = await import('../dist/cli/main.js');
// Not process.exit: it would drop whatever a slow pipe reader has not taken yet.
await exitWhenFlushed(await main(process.argv.slice(2)));
