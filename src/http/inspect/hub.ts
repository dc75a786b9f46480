/**
 * Where the node's inspection messages go: every connected receiver (the `/inspect` relay, the
 * `--inspect-url` pusher), and the live set a receiver that connects late is first sent. The
 * live set holds, per live actor, the two messages that describe it (its `@xstate.actor` and its
 * latest `@xstate.snapshot`): a copy of the stream's tail, not a second model of any state.
 */

/** A receiver of serialized inspection messages. `send` must not block (see Outbox). */
export interface InspectionSink {
  send(message: string): void;
}

interface LiveActor {
  actor: string;
  snapshot?: string;
}

export interface InspectionMessage {
  type: string;
  sessionId: string;
  /** Of an actor or snapshot message: anything but `active` ends the actor. */
  status?: string;
}

export class InspectionHub {
  readonly #live = new Map<string, LiveActor>();
  readonly #sinks = new Set<InspectionSink>();

  /** Sends `text` (the JSON of `message`) to every sink and keeps the live set current. */
  publish(message: InspectionMessage, text: string): void {
    const { sessionId } = message;
    if (message.type === '@xstate.actor') {
      // Re-inserted: an actor registered again (a restored task) goes after its parent.
      this.#live.delete(sessionId);
      if (message.status === 'active') this.#live.set(sessionId, { actor: text });
    } else if (message.type === '@xstate.snapshot') {
      const live = this.#live.get(sessionId);
      if (live && message.status === 'active') live.snapshot = text;
      else this.#live.delete(sessionId);
    }
    for (const sink of this.#sinks) sink.send(text);
  }

  /** The live actors, parents first (registration order), each followed by its latest snapshot. */
  replay(): string[] {
    const messages: string[] = [];
    for (const live of this.#live.values()) {
      messages.push(live.actor);
      if (live.snapshot !== undefined) messages.push(live.snapshot);
    }
    return messages;
  }

  /** Sends the live set to `sink`, then the stream, until the returned function is called. */
  attach(sink: InspectionSink): () => void {
    for (const message of this.replay()) sink.send(message);
    this.#sinks.add(sink);
    return () => this.#sinks.delete(sink);
  }

  get liveActors(): number {
    return this.#live.size;
  }

  get sinks(): number {
    return this.#sinks.size;
  }
}
