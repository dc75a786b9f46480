#!/usr/bin/env node
// The `reeve` command. Plain Node runs it from any directory with no build step: tsx's loader
// is registered in this same process (no wrapper process), so signals reach the node itself.
import { register } from 'tsx/esm/api';

register();
const { main, exitWhenFlushed } = await import('../src/cli/main.ts');
// Not process.exit: it would drop whatever a slow pipe reader has not taken yet.
await exitWhenFlushed(await main(process.argv.slice(2)));
