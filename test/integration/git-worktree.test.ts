import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterEach, describe, expect, it } from 'vitest';
import { fixtureAgent, startTestNode, waitForState, type TestNode } from '../support/test-node.ts';
import { tempDir } from '../support/temp-dir.ts';

async function gitRepo(): Promise<{ path: string; remove(): void }> {
  const dir = tempDir('reeve-repo-');
  const git = (...args: string[]) => execa('git', ['-C', dir.path, ...args]);
  await git('init', '-q', '-b', 'main');
  writeFileSync(join(dir.path, 'README'), 'hello\n');
  await git('add', 'README');
  await git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-q', '-m', 'init');
  return dir;
}
const branches = async (repo: string) => (await execa('git', ['-C', repo, 'branch', '--list', 'reeve/*'])).stdout;

describe('git worktree workspaces', () => {
  let t: TestNode | undefined;
  let repo: { path: string; remove(): void } | undefined;
  afterEach(async () => {
    await t?.dispose();
    repo?.remove();
    t = undefined;
  });

  it('runs the task in a worktree on its own branch, keeps the branch and removes the worktree when it succeeds', async () => {
    repo = await gitRepo();
    t = await startTestNode({ agents: { dev: { repo: repo.path, steps: [{ name: 'develop', run: { module: fixtureAgent('branch-in-workspace.ts') } }] } } });
    const id = (await t.node.store.submit({ kind: 'dev' })).task.id;
    const task = await waitForState(t.node, id, ['succeeded', 'failed']);
    expect(task.state).toBe('succeeded');
    expect(task.history.map((h) => h.reason).join('\n')).toMatch(/step workspace done; next develop/);
    expect(await branches(repo.path)).toContain(`reeve/${id}`);
    const dir = join(t.config.node.dataDir, 'workspaces', id);
    for (let i = 0; i < 50 && existsSync(dir); i++) await new Promise((r) => setTimeout(r, 20));
    expect(existsSync(dir)).toBe(false);
  });

  it('removes the worktree and deletes the branch as the compensation of a failed task', async () => {
    repo = await gitRepo();
    t = await startTestNode({
      agents: { dev: { repo: repo.path, retry: { permanent: { maxAttempts: 1 } }, steps: [{ name: 'develop', run: { module: fixtureAgent('fails-permanently.ts') } }] } },
    });
    const id = (await t.node.store.submit({ kind: 'dev' })).task.id;
    const task = await waitForState(t.node, id, ['failed', 'quarantined']);
    expect(task).toMatchObject({ state: 'failed', compensations: [{ step: 'workspace', status: 'done' }] });
    expect(await branches(repo.path)).not.toContain(`reeve/${id}`);
    expect(existsSync(join(t.config.node.dataDir, 'workspaces', id))).toBe(false);
  });
});
