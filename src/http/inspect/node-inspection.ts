/**
 * The Inspection port on @statelyai/inspect's inspector API: the supervisor's, the saga actors'
 * and the breaker board's reports become `inspector.actor/event/snapshot` calls, whose Stately
 * events go, serialized and redacted, to the hub (relay, pusher, live set). Loaded only with
 * inspection on.
 *
 * @statelyai/inspect 0.7.2's `actor(ref, snapshot, { parentId, definition })` drops `parentId`
 * (`info?.parentId ?? typeof ref === 'string' ? …` parses as `(… ?? …) ? …`) and reads the
 * definition only from `ref.logic.config`. So each actor is passed as an actor-like object whose
 * `_parent` chain gives its parent and root, and the definition (serialized once per machine,
 * not once per task) is set in `serialize`.
 */
import { createInspector, type StatelyInspectionEvent } from '@statelyai/inspect';
import type { Inspection, InspectedEvent, InspectedMachine, InspectedSnapshot, InspectedSource } from '../../ports/inspection.ts';
import type { Logger } from '../../ports/logger.ts';
import { createSecretRedactor } from '../../protocol/secret-redactor.ts';
import { definitionOf } from '../machine-definition.ts';
import type { InspectionHub } from './hub.ts';
import { capJson, eventView, sagaContextView } from './sanitize.ts';

export interface NodeInspectionOptions {
  hub: InspectionHub;
  /** Cap of each context and event, as JSON. */
  maxContextBytes: number;
  /** Redacted from every message. */
  secrets: readonly string[];
  log: Logger;
}

/** What createInspector needs of an actor: its session id and its parent chain (an ActorRefLike). */
interface ActorLike {
  sessionId: string;
  _parent?: ActorLike;
  send(): void;
  getSnapshot(): undefined;
}

const nothing = () => undefined;
const actorLike = (sessionId: string, parent?: ActorLike): ActorLike =>
  parent ? { sessionId, _parent: parent, send: nothing, getSnapshot: nothing } : { sessionId, send: nothing, getSnapshot: nothing };

/** The part of a session id that names the child (`reeve:n1:root/dispatcher@2` → `dispatcher`). */
const childName = (sessionId: string) => sessionId.slice(sessionId.lastIndexOf('/') + 1).replace(/@\d+$/, '');

export function createNodeInspection(options: NodeInspectionOptions): Inspection {
  const { hub, maxContextBytes, log } = options;
  const refs = new Map<string, ActorLike>();
  const machines = new Map<string, InspectedMachine>();
  const definitions = new WeakMap<InspectedMachine, string>();
  /** Current session id of each child of the root, by name (sources: `dispatcher`). */
  const roles = new Map<string, string>();
  let rootId: string | undefined;
  // The node's one definition of a secret, in its JSON form (the message stays valid JSON).
  const redactor = createSecretRedactor(options.secrets);
  let failures = 0;

  const rootOf = (sessionId: string): string => {
    let ref = refs.get(sessionId);
    while (ref?._parent) ref = ref._parent;
    return ref?.sessionId ?? sessionId;
  };

  const serialize = (event: StatelyInspectionEvent): StatelyInspectionEvent => {
    if (event.type !== '@xstate.actor') return { ...event, rootId: rootOf(event.sessionId) };
    const machine = machines.get(event.sessionId);
    let definition = machine ? definitions.get(machine) : undefined;
    if (machine && definition === undefined) definitions.set(machine, (definition = definitionOf(machine)));
    return { ...event, name: event.sessionId, definition, rootId: event.rootId ?? event.sessionId };
  };

  const send = (event: StatelyInspectionEvent): void => {
    let text: string;
    try {
      text = JSON.stringify(event);
    } catch (err) {
      // A context that is not JSON (a cycle, a BigInt) must not stop the node: skipped, logged once.
      if (failures++ === 0) log.warn({ err, sessionId: event.sessionId }, 'inspection event is not JSON; skipped');
      return;
    }
    if (redactor) text = redactor.json(text);
    const status = event.type === '@xstate.event' ? undefined : (event.snapshot as { status?: string } | undefined)?.status;
    hub.publish({ type: event.type, sessionId: event.sessionId, ...(status === undefined ? {} : { status }) }, text);
  };

  const inspector = createInspector(
    { send },
    {
      serialize,
      sanitizeContext: (context) => capJson(context, maxContextBytes) as typeof context,
      sanitizeEvent: (event) => capJson(event, maxContextBytes) as typeof event,
    },
  );

  const view = (sessionId: string, snapshot: InspectedSnapshot) => {
    const context = machines.get(sessionId)?.id === 'taskSaga' ? sagaContextView(snapshot.context) : snapshot.context;
    return { status: snapshot.status, value: snapshot.value, ...(context === undefined ? {} : { context }) };
  };

  const sourceId = (source: InspectedSource): string => {
    if (typeof source === 'object') return source.sessionId;
    if (source === 'dispatcher') return roles.get('dispatcher') ?? 'dispatcher';
    if (source === 'node') return rootId ?? 'node';
    return source;
  };

  return {
    isOn: true,
    actor(sessionId, parentId, snapshot, machine) {
      const parent = parentId === undefined ? undefined : (refs.get(parentId) ?? actorLike(parentId));
      const ref = actorLike(sessionId, parent);
      refs.set(sessionId, ref);
      if (machine) machines.set(sessionId, machine);
      else machines.delete(sessionId);
      if (!parent && sessionId.startsWith('reeve:')) rootId = sessionId;
      else if (parentId !== undefined && parentId === rootId) roles.set(childName(sessionId), sessionId);
      inspector.actor(ref, view(sessionId, snapshot));
      if (snapshot.status !== 'active') end(sessionId);
    },
    step(sessionId, event: InspectedEvent, snapshot, source) {
      const target = refs.get(sessionId) ?? sessionId;
      const shown = eventView(event);
      inspector.event(target, shown, source === undefined ? undefined : { source: sourceId(source) });
      inspector.snapshot(target, view(sessionId, snapshot), { event: shown });
      if (snapshot.status !== 'active') end(sessionId);
    },
  };

  function end(sessionId: string): void {
    refs.delete(sessionId);
    machines.delete(sessionId);
  }
}
