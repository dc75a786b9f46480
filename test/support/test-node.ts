import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/load.ts';
import type { Config } from '../../src/config/schema.ts';
import { startNode, type ReeveNode } from '../../src/node/start-node.ts';
import { recordingLogger } from './recording-logger.ts';
import { tempDir } from './temp-dir.ts';

export const fixtureAgent = (name: string) => fileURLToPath(new URL(`../fixtures/agents/${name}`, import.meta.url));

export interface TestNode {
  node: ReeveNode;
  config: Config;
  dir: string;
  log: ReturnType<typeof recordingLogger>;
  /** Drains, waits for the node to stop, removes its directory. */
  dispose(): Promise<void>;
}

/** A real embedded node on a fresh data dir, configured in code. */
export async function startTestNode(raw: { node?: Record<string, unknown>; agents: Record<string, unknown>; secrets?: string[]; notify?: unknown[]; notifyDelivery?: Record<string, unknown>; http?: Record<string, unknown> }): Promise<TestNode> {
  const dir = tempDir('reeve-node-');
  const config = parseConfig({ ...raw, node: { dataDir: join(dir.path, 'data'), pollIntervalMs: 50, ...raw.node } }, { baseDir: dir.path });
  const log = recordingLogger();
  const node = await startNode({ config, log });
  return {
    node,
    config,
    dir: dir.path,
    log,
    dispose: async () => {
      await node.drain(0);
      await node.done;
      dir.remove();
    },
  };
}

/** Polls the store until the task is in one of `states` (the node runs in this process). */
export async function waitForState(node: ReeveNode, id: string, states: readonly string[], timeoutMs = 15_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const task = await node.store.get(id);
    if (task && states.includes(task.state)) return task;
    if (Date.now() > until) throw new Error(`task ${id} is ${task?.state}, not ${states.join('|')} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
