import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { toError } from '../errors.ts';
import type { Logger } from '../ports/logger.ts';

export interface WorkspaceJanitorOptions {
  /** The directory holding one workspace per task id. */
  root: string;
  /** A run of this task is in flight on the node: its workspace is in use. */
  inUse(taskId: string): boolean;
  log: Logger;
  /** How long a finished task's workspace may stay before it is removed. Default 500 ms. */
  intervalMs?: number;
}

/**
 * Removes the workspaces of finished tasks, in batches: one `readdir` of the root every
 * `intervalMs` while tasks finish, then an `rm` only for those that exist. Most module agents
 * never touch `ctx.workspace` (it is created on first use), and an `rm` per finished task,
 * which has to look before it finds nothing, was ~5 % of a node's main-thread CPU with
 * I/O-bound tasks (bench:cluster profile).
 *
 * A task that runs again before its sweep (retried, reopened) keeps its workspace: `keep()`
 * takes it off the list, and a sweep skips any task with a run in flight.
 */
export class WorkspaceJanitor {
  readonly #pending = new Set<string>();
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> | undefined;
  #closed = false;

  constructor(private readonly options: WorkspaceJanitorOptions) {
    this.#intervalMs = options.intervalMs ?? 500;
  }

  /** The task ended: its workspace goes at the next sweep. */
  release(taskId: string): void {
    this.#pending.add(taskId);
    this.#schedule();
  }

  #schedule(): void {
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      // sweep() never rejects (it logs what it cannot remove).
      void this.sweep().then(() => {
        // Skipped because a run was in flight: look again later.
        if (this.#pending.size > 0 && !this.#closed) this.#schedule();
      });
    }, this.#intervalMs).unref();
  }

  /** A run of the task is about to use its workspace. */
  keep(taskId: string): void {
    this.#pending.delete(taskId);
  }

  /** Removes the released workspaces that exist now. Never throws: a failure is logged. */
  async sweep(): Promise<void> {
    await this.#sweeping;
    this.#sweeping = this.#sweepOnce().finally(() => {
      this.#sweeping = undefined;
    });
    return this.#sweeping;
  }

  async #sweepOnce(): Promise<void> {
    if (this.#pending.size === 0) return;
    let names: string[];
    try {
      names = await readdir(this.options.root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.options.log.warn({ err: toError(err), root: this.options.root }, 'could not list the workspaces');
      names = [];
    }
    const existing = new Set(names);
    const due = [...this.#pending].filter((id) => !this.options.inUse(id));
    for (const id of due) this.#pending.delete(id);
    await Promise.all(
      due
        .filter((id) => existing.has(id))
        .map((id) => rm(join(this.options.root, id), { recursive: true, force: true }).catch((err: unknown) => this.options.log.warn({ err: toError(err), taskId: id }, 'could not remove the workspace'))),
    );
  }

  /** A last sweep (the node is stopping). */
  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.sweep();
  }
}
