import { hostname } from 'node:os';
import type { Command } from 'commander';
import type { Backend } from '../node/backend.ts';
import { ErrorCode, InvalidInputError, ReeveError } from '../errors.ts';
import { positiveInt, withBackend, type CliContext } from './context.ts';
import { Exit } from './output.ts';
import { nodeId } from './arg-shapes.ts';
import { nodeViews } from '../views/status-report.ts';

/**
 * `reeve drain [NODE]`. Without NODE: the nodes running on this machine. Embedded mode signals
 * the node's pid (SIGTERM drains); a cluster sends `{ op: "drain" }` on the node's control
 * subject, and `--wait` follows `<prefix>.nodes.drained.<node>` until the node has handed back
 * what it could not finish.
 */
export function registerDrain(program: Command, ctx: CliContext, setExit: (code: number) => void): void {
  const io = ctx.io;
  const drain = program
    .command('drain [node]')
    .description('ask a node to drain: stop pulling, finish in-flight work up to its deadline, hand back the rest, exit 0')
    .option('--deadline-ms <ms>', "how long in-flight runs may take before they are handed back (default: the node's drainTimeoutMs)", positiveInt('--deadline-ms'))
    .option('--wait', 'wait until the node(s) have drained (cluster mode)');
  drain.action(
    withBackend(ctx, program, setExit, async (store, json, config, backend) => {
      const wanted = drain.args[0] === undefined ? undefined : nodeId('node')(drain.args[0]);
      const o = drain.opts<{ deadlineMs?: number; wait?: boolean }>();
      const infos = await store.listNodes();
      const nodes = nodeViews(infos, Date.now()).filter((n) => n.state === 'up' && (wanted === undefined ? infos.find((i) => i.id === n.id)?.host === hostname() : n.id === wanted));
      if (nodes.length === 0) {
        throw new ReeveError(ErrorCode.NodeNotFound, wanted ? `no running node ${wanted}; see reeve status` : `no node is running on this machine (${hostname()}); name one: reeve drain NODE (see reeve status)`);
      }
      if (backend.mode === 'cluster') {
        const results = await Promise.all(nodes.map((n) => drainOverNats(backend, n.id, o.deadlineMs, o.wait ? (o.deadlineMs ?? config.node.drainTimeoutMs) + 30_000 : undefined)));
        io.out(json ? JSON.stringify({ draining: nodes.map((n) => n.id), ...(o.wait ? { drained: results } : {}) }) : results.map((r) => (r ? `${r.id} drained: ${r.finished} finished, ${r.handedBack} handed back` : '')).filter(Boolean).join('\n') || `draining ${nodes.map((n) => n.id).join(', ')}`);
        return Exit.Ok;
      }
      for (const n of nodes) {
        const info = infos.find((i) => i.id === n.id);
        if (!info || info.host !== hostname()) {
          throw new InvalidInputError('drain', [{ path: 'node', message: `node ${n.id} runs on ${info?.host ?? 'another host'}; run reeve drain there, or use store.type "nats" to drain across machines` }]);
        }
        try {
          process.kill(info.pid, 'SIGTERM');
        } catch {
          throw new ReeveError(ErrorCode.NodeNotFound, `node ${n.id} is not running (its pid ${info.pid} is gone)`);
        }
      }
      io.out(json ? JSON.stringify({ draining: nodes.map((n) => n.id) }) : `draining ${nodes.map((n) => n.id).join(', ')}`);
      return Exit.Ok;
    }),
  );
}

/** `waitMs`: follow the drained event that long (the drain deadline plus time to stop); undefined: do not wait. */
async function drainOverNats(backend: Backend, node: string, deadlineMs: number | undefined, waitMs: number | undefined) {
  // Loaded here, not at the top: every CLI command imports this module to register `drain`.
  const { nodeControlReplySchema, nodeDrainedSchema } = await import('../protocol/messages.ts');
  const wait = waitMs !== undefined;
  let resolveDrained!: (value: ReturnType<typeof nodeDrainedSchema.parse>) => void;
  const drained = new Promise<ReturnType<typeof nodeDrainedSchema.parse>>((resolve) => (resolveDrained = resolve));
  const sub = wait
    ? backend.bus.subscribe(backend.subjects.drained(node), (m) => {
        const parsed = nodeDrainedSchema.safeParse(m.data);
        if (parsed.success) resolveDrained(parsed.data);
      })
    : undefined;
  try {
    const reply = await backend.bus.request(backend.subjects.control(node), { op: 'drain', ...(deadlineMs === undefined ? {} : { deadlineMs }) }, 5_000);
    const answer = nodeControlReplySchema.safeParse(reply.data);
    if (!answer.success) throw new ReeveError(ErrorCode.Internal, `node ${node} answered the drain request with something unexpected: ${reply.raw.slice(0, 200)}`);
    if (!answer.data.accepted) throw drainRefused(node, answer.data.reason);
    if (!wait) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ReeveError(ErrorCode.StoreUnavailable, `node ${node} accepted the drain but did not announce it drained within ${waitMs} ms; see reeve status`)), waitMs);
    });
    try {
      return await Promise.race([drained, late]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    sub?.unsubscribe();
  }
}

/** A node that answers a drain request with `accepted: false` (already stopping): exit 4, refused. */
export function drainRefused(node: string, reason: string | undefined): ReeveError {
  return new ReeveError(ErrorCode.Refused, `node ${node} refused to drain: ${reason ?? 'no reason given'}; see reeve status`);
}
