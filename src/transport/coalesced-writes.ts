/**
 * One socket write per event-loop turn instead of one per microtask checkpoint.
 *
 * The NATS client writes its outbound buffer from a microtask queued by the first publish after
 * a flush. A node's work arrives in many small turns (a KV ack here, a worker result there), so
 * under load it made thousands of tiny writes a second: `writeBuffer` was the largest single
 * item of a node's main-thread CPU profile (17.5 % with I/O-bound tasks, bench:cluster), and
 * every write also wakes nats-server. Corking the socket on the first write of a turn and
 * uncorking it in `setImmediate` hands everything written in that turn to the kernel as one
 * `writev`. Order is unchanged (every frame still goes through `socket.write`), and nothing
 * written is lost: the transport's close (`nc.close()` destroys the socket at once) uncorks
 * first, so what was written before it goes out as it did without the patch. The cost is
 * latency of at most one turn of the event loop.
 *
 * It patches the client's `NodeTransport.prototype.send` and `_closed` once per process (the client exposes
 * no hook for this). If a client release changes that class so the patch cannot apply, the
 * client keeps its own behaviour, which is only slower: `coalesceNatsWrites()` says so.
 */
import { NodeTransport } from '@nats-io/transport-node/lib/node_transport.js';

const PATCHED = Symbol.for('reeve.coalescedWrites');
const CORKED = Symbol('reeve.corked');

type Corkable = { [CORKED]?: boolean; socket?: { cork?: () => void; uncork?: () => void } };

function uncork(transport: Corkable): void {
  if (!transport[CORKED]) return;
  transport[CORKED] = false;
  transport.socket?.uncork?.();
}

/** Applies the patch (idempotent). Returns whether writes are coalesced. */
export function coalesceNatsWrites(): boolean {
  const proto = (NodeTransport as unknown as { prototype?: Record<PropertyKey, unknown> } | undefined)?.prototype;
  if (!proto || typeof proto.send !== 'function' || typeof proto._closed !== 'function') return false;
  if (proto[PATCHED]) return true;
  const send = proto.send as (this: Corkable, frame: Uint8Array) => void;
  const closed = proto._closed as (this: Corkable, ...args: unknown[]) => Promise<void>;
  proto.send = function coalescedSend(this: Corkable, frame: Uint8Array): void {
    const socket = this.socket;
    if (socket && !this[CORKED] && typeof socket.cork === 'function' && typeof socket.uncork === 'function') {
      socket.cork();
      this[CORKED] = true;
      setImmediate(() => {
        if (this.socket === socket) uncork(this);
      });
    }
    send.call(this, frame);
  };
  // Every way the transport ends goes through `_closed`, which may destroy the socket at once.
  proto._closed = function uncorkedClose(this: Corkable, ...args: unknown[]): Promise<void> {
    uncork(this);
    return closed.apply(this, args);
  };
  proto[PATCHED] = true;
  return true;
}
