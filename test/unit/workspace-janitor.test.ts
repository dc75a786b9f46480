import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/ports/logger.ts';
import { WorkspaceJanitor } from '../../src/node/workspace-janitor.ts';
import { tempDir } from '../support/temp-dir.ts';

describe('WorkspaceJanitor', () => {
  let dir: ReturnType<typeof tempDir> | undefined;
  afterEach(() => dir?.remove());

  function workspaces(...ids: string[]): string {
    dir = tempDir('reeve-janitor-');
    for (const id of ids) {
      mkdirSync(join(dir.path, id, 'sub'), { recursive: true });
      writeFileSync(join(dir.path, id, 'sub', 'file'), 'x');
    }
    return dir.path;
  }

  it('removes the workspaces of released tasks at the sweep, and only those', async () => {
    const root = workspaces('done', 'other');
    const janitor = new WorkspaceJanitor({ root, inUse: () => false, log: silentLogger, intervalMs: 60_000 });
    janitor.release('done');
    janitor.release('never-made-one');
    await janitor.sweep();
    expect(existsSync(join(root, 'done'))).toBe(false);
    expect(existsSync(join(root, 'other'))).toBe(true);
    await janitor.close();
  });

  it('keeps the workspace of a task that runs again before the sweep, or has a run in flight', async () => {
    const root = workspaces('again', 'busy');
    const janitor = new WorkspaceJanitor({ root, inUse: (id) => id === 'busy', log: silentLogger, intervalMs: 60_000 });
    janitor.release('again');
    janitor.release('busy');
    janitor.keep('again');
    await janitor.sweep();
    expect(existsSync(join(root, 'again'))).toBe(true);
    expect(existsSync(join(root, 'busy'))).toBe(true);
    await janitor.close();
  });

  it('comes back for a workspace it skipped because a run was in flight', async () => {
    const root = workspaces('later');
    let busy = true;
    const janitor = new WorkspaceJanitor({ root, inUse: () => busy, log: silentLogger, intervalMs: 10 });
    janitor.release('later');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(existsSync(join(root, 'later'))).toBe(true);
    busy = false;
    for (let i = 0; i < 200 && existsSync(join(root, 'later')); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(existsSync(join(root, 'later'))).toBe(false);
    await janitor.close();
  });

  it('sweeps by itself after the interval, and tolerates a root that was never created', async () => {
    const root = workspaces('soon');
    const janitor = new WorkspaceJanitor({ root, inUse: () => false, log: silentLogger, intervalMs: 10 });
    janitor.release('soon');
    for (let i = 0; i < 200 && existsSync(join(root, 'soon')); i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(existsSync(join(root, 'soon'))).toBe(false);
    const none = new WorkspaceJanitor({ root: join(root, 'missing'), inUse: () => false, log: silentLogger });
    none.release('x');
    await expect(none.close()).resolves.toBeUndefined();
  });
});
