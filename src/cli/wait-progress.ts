import type { Backend } from '../node/backend.ts';
import { ClusterKinds } from '../actors/cluster-kinds.ts';
import { silentLogger } from '../ports/logger.ts';
import type { FullTask } from '../ports/task-store.ts';
import { publicRecord } from '../protocol/public-record.ts';
import { nodeViews } from '../views/status-report.ts';
import type { TaskChange } from '../client/task-follow.ts';
import { nextActions } from './next-actions.ts';
import type { Io } from './output.ts';

/** When `submit --wait` first looks for a live node (cluster heartbeats come every second), then how often. */
const FIRST_CHECK_MS = 2_500;
const CHECK_EVERY_MS = 5_000;
const SHOWN_CHARS = 200;

export interface WaitProgress {
  onChange: (change: TaskChange) => void;
  onRecord: (task: FullTask) => void;
  stop: () => void;
}

/**
 * What `submit --wait` prints on stderr in human mode while it waits: one line per state change
 * (with its reason, which names the step), each new heartbeat progress, the exact commands to
 * decide when the task waits for a person, and a line when no live node runs the kind (the
 * wait goes on: a node may start later).
 */
export function waitProgress(io: Io, backend: Backend, options: { kind: string; global: readonly string[]; now?: () => number }): WaitProgress {
  const now = options.now ?? Date.now;
  let progress: string | undefined;
  let waitingSeen = -1;
  let state: string | undefined;
  const liveness = liveNodes(backend, options.kind, now);
  let warned = false;
  let timer: NodeJS.Timeout | undefined;
  const check = async () => {
    if (state === undefined || state === 'queued') {
      const live = await liveness.isLive().catch(() => true);
      if (!live && !warned) io.err(`${clock(now())}  no live node runs kind ${options.kind}; the task waits until one does (start one: reeve start)`);
      else if (live && warned) io.err(`${clock(now())}  a node that runs kind ${options.kind} is up`);
      warned = !live;
    }
    timer = setTimeout(() => void check(), CHECK_EVERY_MS);
    timer.unref();
  };
  timer = setTimeout(() => void check(), FIRST_CHECK_MS);
  timer.unref();
  return {
    onChange: (change) => io.err(`${clock(change.at)}  ${change.from ?? 'new'} → ${change.to}  ${change.reason}`),
    onRecord: (task) => {
      state = task.state;
      // Progress stays in the record across steps: only what the current step reported is shown.
      const text = task.progress === undefined ? undefined : JSON.stringify(task.progress);
      const current = task.heartbeatAt !== undefined && task.heartbeatAt >= (task.history.at(-1)?.at ?? 0);
      if (text !== undefined && text !== progress && current) {
        io.err(`${clock(task.heartbeatAt!)}  progress${task.step ? ` (step ${task.step})` : ''}: ${cut(text)}`);
        progress = text;
      }
      if (task.state === 'waiting' && waitingSeen !== task.history.length) {
        waitingSeen = task.history.length;
        const record = publicRecord(task);
        io.err(`task ${task.id} is waiting for a person${task.step ? ` (step ${task.step})` : ''}; decide with:`);
        for (const line of nextActions(record, options.global)) io.err(`  ${line}`);
      }
    },
    stop: () => {
      clearTimeout(timer);
      liveness.close();
    },
  };
}

/** Whether a live node runs the kind: cluster nodes say so in their heartbeats; an embedded node's record says it is up. */
function liveNodes(backend: Backend, kind: string, now: () => number): { isLive(): Promise<boolean>; close(): void } {
  if (backend.mode === 'cluster') {
    const kinds = new ClusterKinds({ bus: backend.bus, subjects: backend.subjects, clock: { now }, log: silentLogger, self: '' });
    return { isLive: async () => kinds.runsElsewhere(kind), close: () => kinds.close() };
  }
  return { isLive: async () => nodeViews(await backend.store.listNodes(), now()).some((n) => n.state === 'up'), close: () => undefined };
}

const clock = (at: number): string => new Date(at).toISOString().slice(11, 19);
const cut = (text: string): string => (text.length <= SHOWN_CHARS ? text : `${text.slice(0, SHOWN_CHARS - 1)}…`);
