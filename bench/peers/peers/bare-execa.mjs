/** Bare execa spawns of /bin/true, `concurrency` at a time: the floor under a command agent. */
import { execa } from 'execa';
import { perSecond } from '../lib/common.mjs';

export const workloads = {
  async spawn({ n, concurrency }) {
    let next = 0;
    const start = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < n) {
          next++;
          await execa('/bin/true');
        }
      }),
    );
    const ms = performance.now() - start;
    return { value: perSecond(n, ms), ms: Math.round(ms) };
  },
};
