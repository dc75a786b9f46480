import type { Dispatcher } from '../actors/dispatcher.ts';
import { SagaActor } from '../actors/saga-actor.ts';
import { supervisorChild, type ChildSpec, type Supervisor } from '../actors/supervisor.ts';
import { WriteBatcher } from '../actors/write-batcher.ts';
import { toError } from '../errors.ts';
import type { Clock } from '../ports/clock.ts';
import { noInspection, type Inspection } from '../ports/inspection.ts';
import type { Logger } from '../ports/logger.ts';
import type { ReeveStore } from '../ports/reeve-store.ts';
import type { Runner } from '../ports/runner.ts';
import type { StoredTask } from '../ports/task-store.ts';
import type { Timers } from '../ports/timers.ts';
import type { NodeBreakers } from './breakers.ts';
import type { LiveConfig } from './live-config.ts';
import type { NodeWorkspaces } from './workspaces.ts';

/** Restarts of one task's saga actor before the task is given up (see #child). */
const SAGA_RESTARTS = 3;

export interface NodeSagasDeps {
  store: ReeveStore;
  owner: string;
  live: LiveConfig;
  runner: Runner;
  workspaces: NodeWorkspaces;
  breakers: NodeBreakers;
  /** The dispatcher that claimed the tasks (told when a saga's turn ends). */
  dispatcher(): Dispatcher;
  /** Gives a claimed task back (its lease released) when its saga could not even start. */
  handBack(task: StoredTask, reason: string): Promise<void>;
  clock: Clock;
  timers: Timers;
  log: Logger;
  /** Live state: each saga actor reports itself, under the `sagas` supervisor. */
  inspection?: Inspection;
}

/**
 * The saga-child factory: one saga actor per claimed task, each a transient child of the
 * `sagas` supervisor (its own subtree, so one poisoned task restarts it, not the node).
 */
export class NodeSagas {
  #supervisor: Supervisor | undefined;
  readonly #batcher: WriteBatcher;

  constructor(private readonly deps: NodeSagasDeps) {
    this.#batcher = new WriteBatcher(deps.store);
  }

  /** The `sagas` supervisor, a child of the node's root. */
  supervisor(): ChildSpec {
    const { log, clock, timers } = this.deps;
    return supervisorChild({
      id: 'sagas',
      spec: { strategy: 'one_for_one', intensity: { maxRestarts: 50, periodMs: 10_000 }, backoff: { baseMs: 50, maxMs: 2_000 } },
      children: [],
      childrenInspectThemselves: true,
      log,
      clock,
      timers,
      onStart: (s) => {
        this.#supervisor = s;
      },
    });
  }

  /** Starts the saga of a task the dispatcher just claimed (its `startSaga`). */
  start(task: StoredTask): SagaActor {
    const { log } = this.deps;
    const actor = this.#newActor(task);
    const start = this.#supervisor ? this.#supervisor.startChild(this.#child(task, actor)) : Promise.reject(new Error('the sagas supervisor is restarting'));
    void start
      .catch(async (err: unknown) => {
        // Not started: give the lease back now rather than let it expire and count a crash.
        log.error({ err: toError(err), taskId: task.id }, 'could not start saga actor; handing the task back');
        this.deps.dispatcher().finished(task, actor);
        await this.deps.handBack(task, 'handed back: saga actor could not start');
      })
      .catch((err: unknown) => log.warn({ err: toError(err), taskId: task.id }, 'could not hand the task back; its lease will expire'));
    return actor;
  }

  #newActor(task: StoredTask): SagaActor {
    const { store, owner, live, clock, workspaces, breakers } = this.deps;
    return new SagaActor(task, {
      store,
      write: (r) => this.#batcher.write(r),
      runner: this.deps.runner,
      owner,
      leaseTtlMs: live.config.node.leaseTtlMs,
      clock,
      random: Math.random,
      log: this.deps.log.child({ component: 'saga' }),
      plan: (kind) => live.plan(kind),
      onTerminal: (t) => workspaces.finished(t),
      onVerdict: (t, verdict) => breakers.verdict(t, verdict),
      workspace: (taskId) => workspaces.dir(taskId),
      inspect: { port: this.deps.inspection ?? noInspection, parentId: () => this.#supervisor?.sessionId },
    });
  }

  /**
   * A saga actor as a transient child: a crash restarts it from the task's persisted snapshot.
   * A task whose actor keeps crashing (a bug, a snapshot it cannot restore) is given up after
   * SAGA_RESTARTS: its lease is released with a crash counted, so the crash limit quarantines
   * it instead of the node renewing its lease forever.
   */
  #child(task: StoredTask, first: SagaActor): ChildSpec {
    const { store, owner, log } = this.deps;
    const dispatcher = this.deps.dispatcher();
    let given: SagaActor | undefined = first;
    let current: SagaActor = first;
    let starts = 0;
    const end = () => dispatcher.finished(task, current);
    /** Makes `current` the actor for this start: the first one, or a fresh one on the task as stored now. False: nothing to run. */
    const nextActor = async (): Promise<boolean> => {
      if (given) {
        current = given;
        given = undefined;
        return true;
      }
      const fresh = await store.get(task.id);
      if (!fresh || fresh.owner !== owner || dispatcher.inFlight.get(task.id) !== current) return false;
      if (starts > SAGA_RESTARTS) {
        log.error({ taskId: task.id, restarts: starts - 1 }, 'saga actor keeps crashing; releasing the task with a crash counted');
        await store
          .requeueStale(task.id, fresh.revision, { crashLimit: this.deps.live.crashLimit(task.kind), deadOwner: owner })
          .catch((err: unknown) => log.error({ err: toError(err), taskId: task.id }, 'could not release the task'));
        return false;
      }
      current = this.#newActor(fresh);
      dispatcher.inFlight.set(task.id, current);
      return true;
    };
    return {
      id: `task:${task.id}:${task.revision}`,
      restart: 'transient',
      start: () => {
        starts++;
        const done = (async () => {
          if (!(await nextActor())) return end();
          const how = await current.run();
          log.debug({ taskId: task.id, end: how }, 'saga turn ended');
          end();
        })();
        return {
          done,
          stop: async () => {
            current.handBack('shutdown');
            await done.catch(() => undefined);
          },
        };
      },
    };
  }
}
