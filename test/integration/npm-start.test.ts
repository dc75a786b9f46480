import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { cleanEnv } from '../support/cli.ts';
import { tempDir } from '../support/temp-dir.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Every live descendant of `pid`, read from /proc (ppid is the field after the state). */
function descendants(pid: number): number[] {
  const parents = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] !== 'Z') parents.set(Number(name), Number(fields[1]));
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const walk = (p: number) => {
    for (const [child, parent] of parents) if (parent === p) {
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('npm start', () => {
  it('stops the node too when the npm process the user started gets SIGTERM', async () => {
    const dir = tempDir('reeve-npm-start-');
    const config = join(dir.path, 'reeve.config.json');
    writeFileSync(config, JSON.stringify({ node: { dataDir: join(dir.path, 'data') }, agents: {} }));
    const npm = spawn('npm', ['start'], { cwd: ROOT, env: cleanEnv({ REEVE_CONFIG: config }), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    npm.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const npmExited = new Promise<void>((resolve) => npm.on('exit', () => resolve()));
    let below: number[] = [];
    try {
      await expect.poll(() => stderr, { timeout: 20_000, interval: 50 }).toContain('running (');
      below = descendants(npm.pid!);
      expect(below.length).toBeGreaterThan(0);
      npm.kill('SIGTERM');
      await npmExited;
      // The node drains (nothing in flight) and exits; before, it was left running as an orphan.
      await expect.poll(() => below.filter(alive), { timeout: 10_000, interval: 50 }).toEqual([]);
      expect(stderr).toContain('node drained and stopped');
    } finally {
      for (const pid of [...below, ...descendants(npm.pid!)].filter(alive)) process.kill(pid, 'SIGKILL');
      npm.kill('SIGKILL');
      dir.remove();
    }
  }, 40_000);

  it('drains, not stops at once, on Ctrl-C: the SIGINT npm forwards right after the terminal\'s counts once', async () => {
    const dir = tempDir('reeve-npm-start-');
    const config = join(dir.path, 'reeve.config.json');
    writeFileSync(config, JSON.stringify({ node: { dataDir: join(dir.path, 'data') }, agents: {} }));
    // Its own process group, as a terminal's foreground job: Ctrl-C signals the whole group.
    const npm = spawn('npm', ['start'], { cwd: ROOT, env: cleanEnv({ REEVE_CONFIG: config }), stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    npm.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const npmExited = new Promise<number | null>((resolve) => npm.on('exit', (code) => resolve(code)));
    let below: number[] = [];
    try {
      await expect.poll(() => stderr, { timeout: 20_000, interval: 50 }).toContain('running (');
      below = descendants(npm.pid!);
      process.kill(-npm.pid!, 'SIGINT');
      expect(await npmExited).toBe(0);
      await expect.poll(() => below.filter(alive), { timeout: 10_000, interval: 50 }).toEqual([]);
      expect(stderr).toContain('"msg":"draining"');
      expect(stderr).not.toContain('stopping now');
      expect(stderr).toContain('node drained and stopped');
    } finally {
      for (const pid of [...below, ...descendants(npm.pid!)].filter(alive)) process.kill(pid, 'SIGKILL');
      npm.kill('SIGKILL');
      dir.remove();
    }
  }, 40_000);
});
