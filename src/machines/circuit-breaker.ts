import { and, assign, emit, setup } from 'xstate';

/**
 * One circuit breaker per breaker key (default: the kind). Pure: times arrive in events and
 * the pause deadline lives in context (`openUntil`), never in an `after` delay — XState does not
 * persist pending delays, and the breaker is shared through the store between processes.
 *
 * closed → open after `threshold` consecutive transient failures (a permanent failure or a
 * success resets the streak); open → halfOpen once `now >= openUntil` (`time.tick`); halfOpen
 * admits exactly one probe (`probe.take`); the probe's success closes the breaker, its
 * transient failure re-opens it with the pause doubled (capped at `maxPauseMs`).
 */
export interface BreakerSettings {
  threshold: number;
  pauseMs: number;
  maxPauseMs: number;
}

export interface BreakerInput {
  key: string;
  settings: BreakerSettings;
}

export interface BreakerContext {
  key: string;
  settings: BreakerSettings;
  /** Consecutive transient failures while closed. */
  failures: number;
  /** The pause of the current (or last) opening. */
  pauseMs: number;
  openUntil?: number | undefined;
  /** Who holds the half-open probe (a task id), if anyone. */
  probe?: string | undefined;
}

export type BreakerEvent =
  | { type: 'attempt.succeeded'; now: number; taskId: string; settings?: BreakerSettings }
  | { type: 'attempt.failed'; now: number; taskId: string; transient: boolean; settings?: BreakerSettings }
  | { type: 'time.tick'; now: number }
  | { type: 'probe.take'; now: number; taskId: string }
  /** The probe ended without a verdict (handed back, cancelled, claim came back empty). */
  | { type: 'probe.release'; now: number; taskId: string };

export type BreakerEmitted = { type: 'breaker.opened' | 'breaker.halfOpen' | 'breaker.closed'; key: string; openUntil?: number };

const settingsOf = (context: BreakerContext, event: BreakerEvent): BreakerSettings =>
  'settings' in event && event.settings ? event.settings : context.settings;

export const circuitBreakerMachine = setup({
  types: {
    input: {} as BreakerInput,
    context: {} as BreakerContext,
    events: {} as BreakerEvent,
    emitted: {} as BreakerEmitted,
  },
  guards: {
    isTransient: ({ event }) => event.type === 'attempt.failed' && event.transient,
    reachesThreshold: ({ context, event }) => context.failures + 1 >= settingsOf(context, event).threshold,
    pauseOver: ({ context, event }) => event.type === 'time.tick' && context.openUntil !== undefined && event.now >= context.openUntil,
    probeFree: ({ context }) => context.probe === undefined,
    isProbe: ({ context, event }) => 'taskId' in event && event.taskId === context.probe,
  },
  actions: {
    takeSettings: assign(({ context, event }) => ({ settings: settingsOf(context, event) })),
    countFailure: assign({ failures: ({ context }) => context.failures + 1 }),
    resetFailures: assign({ failures: 0 }),
    open: assign(({ context, event }) => {
      const settings = settingsOf(context, event);
      return { failures: 0, pauseMs: settings.pauseMs, openUntil: event.now + settings.pauseMs, probe: undefined };
    }),
    reopen: assign(({ context, event }) => {
      const settings = settingsOf(context, event);
      const pauseMs = Math.min(settings.maxPauseMs, Math.max(settings.pauseMs, context.pauseMs * 2));
      return { pauseMs, openUntil: event.now + pauseMs, probe: undefined };
    }),
    close: assign(({ context }) => ({ failures: 0, pauseMs: context.settings.pauseMs, openUntil: undefined, probe: undefined })),
    takeProbe: assign(({ event }) => ({ probe: event.type === 'probe.take' ? event.taskId : undefined })),
    releaseProbe: assign({ probe: undefined }),
    announceOpened: emit(({ context }) => ({ type: 'breaker.opened' as const, key: context.key, ...(context.openUntil === undefined ? {} : { openUntil: context.openUntil }) })),
    announceHalfOpen: emit(({ context }) => ({ type: 'breaker.halfOpen' as const, key: context.key })),
    announceClosed: emit(({ context }) => ({ type: 'breaker.closed' as const, key: context.key })),
  },
}).createMachine({
  id: 'circuitBreaker',
  context: ({ input }) => ({ key: input.key, settings: input.settings, failures: 0, pauseMs: input.settings.pauseMs }),
  initial: 'closed',
  states: {
    closed: {
      on: {
        'attempt.succeeded': { actions: ['takeSettings', 'resetFailures'] },
        'attempt.failed': [
          { guard: and(['isTransient', 'reachesThreshold']), target: 'open', actions: ['takeSettings', 'open', 'announceOpened'] },
          { guard: 'isTransient', actions: ['takeSettings', 'countFailure'] },
          // A permanent failure means the provider answered: the outage streak is broken.
          { actions: ['takeSettings', 'resetFailures'] },
        ],
      },
    },
    open: {
      on: {
        'time.tick': { guard: 'pauseOver', target: 'halfOpen', actions: 'announceHalfOpen' },
      },
    },
    halfOpen: {
      on: {
        'probe.take': { guard: 'probeFree', actions: 'takeProbe' },
        'probe.release': { guard: 'isProbe', actions: 'releaseProbe' },
        'attempt.succeeded': { guard: 'isProbe', target: 'closed', actions: ['takeSettings', 'close', 'announceClosed'] },
        'attempt.failed': [
          { guard: and(['isProbe', 'isTransient']), target: 'open', actions: ['takeSettings', 'reopen', 'announceOpened'] },
          // The probe failed for its own reasons, but the provider answered.
          { guard: 'isProbe', target: 'closed', actions: ['takeSettings', 'close', 'announceClosed'] },
        ],
      },
    },
  },
});
