import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { headers } from '@nats-io/transport-node';
import { collect, observe, untilNodesUp } from '../test/support/cluster.ts';
import { startNatsServer } from '../test/support/nats-server.ts';
import { lastLines } from './cluster.ts';
import type { Figures, Findings } from './lib/figures.ts';
import { malformed } from './lib/malformed.ts';
import { fixture, hasStack, logLines, runCli, sleep, startNode, type NodeProc } from './lib/procs.ts';
import type { Rng } from './lib/rng.ts';

/** More deliveries than this of one malformed message is a loop (a rejection takes one). */
const REDELIVERY_BOUND = 3;
const BUCKET = 'reeve-fuzz';

/**
 * (c) Malformed submissions on `reeve.submit` to one node on one nats-server: each must be
 * rejected once (a dead letter and a `reeve.events.rejected` event), none may be stored as a
 * task, loop in the work queue or crash the node, and the node's log must show each at warn,
 * without a stack trace, and no error or fatal line at all.
 */
export async function fuzzNats(dir: string, count: number, settleMs: number, r: Rng, findings: Findings): Promise<Partial<Figures>> {
  const server = await startNatsServer({ maxPayloadBytes: 4 * 1024 * 1024 });
  let node: NodeProc | undefined;
  const observer = { close: async () => undefined } as { close(): Promise<void> } & Partial<Awaited<ReturnType<typeof observe>>>;
  try {
    writeFileSync(join(dir, 'reeve.config.json'), JSON.stringify({
      node: { id: 'fuzz', concurrency: 2, pollIntervalMs: 50, logLevel: 'warn' },
      store: { type: 'nats', bucket: BUCKET },
      nats: { servers: [server.url] },
      agents: { echo: { module: fixture('works.ts') } },
    }, null, 2));
    node = startNode(dir);
    const cli = async (args: string[]) => {
      const run = await runCli(dir, args, { timeoutMs: 30_000 });
      return { ...run, code: typeof run.code === 'number' ? run.code : null };
    };
    await untilNodesUp({ cli }, ['fuzz'], 60_000);
    Object.assign(observer, await observe([server.url], BUCKET));
    const events = collect<{ code: string; id?: string }>(observer.nc!, 'reeve.events.rejected');
    const bySeq = new Map<number, string>();
    const categories = new Map<string, number>();
    for (let i = 0; i < count; i++) {
      const m = malformed(r, i);
      const h = m.header === undefined ? undefined : headers();
      if (m.header !== undefined) h!.set('Nats-Msg-Id', m.header);
      const ack = await observer.js!.publish('reeve.submit', m.body, h ? { headers: h } : {});
      bySeq.set(ack.seq, m.category);
      categories.set(m.category, (categories.get(m.category) ?? 0) + 1);
    }
    // Until every message is rejected, or nothing changed for a while, or the settle time is up.
    const deadline = Date.now() + settleMs;
    let seen = -1;
    let quietSince = Date.now();
    while (events.messages.length < count && Date.now() < deadline && Date.now() - quietSince < 10_000 && node.running()) {
      await sleep(250);
      if (events.messages.length !== seen) {
        seen = events.messages.length;
        quietSince = Date.now();
      }
    }
    await sleep(1500); // a few more deliveries of whatever is looping
    events.stop();
    const lines = logLines(node.stderr());
    const rejectedSeqs = new Set(lines.filter((l) => l.msg === 'submission rejected').map((l) => l.seq as number));
    const redeliveries = new Map<number, number>();
    for (const l of lines) if (l.msg === 'submission not stored; will be redelivered') redeliveries.set(l.seq as number, (redeliveries.get(l.seq as number) ?? 0) + 1);
    const jsm = await jetstreamManager(observer.nc!);
    const stillQueued = (await jsm.streams.info('REEVE_SUBMIT')).state.messages;
    const looping = [...bySeq.keys()].filter((seq) => !rejectedSeqs.has(seq) && (redeliveries.get(seq) ?? 0) > 0 || (redeliveries.get(seq) ?? 0) > REDELIVERY_BOUND);
    const tasks = await observer.store!.query({ limit: count + 10 });
    const deadLetters = await observer.store!.listDeadLetters(count + 10);
    const errors = lines.filter((l) => l.level >= 50);
    const rejectionLines = lines.filter((l) => /rejected/.test(l.msg));
    const stacks = rejectionLines.filter(hasStack).concat(lines.filter((l) => l.level === 40 && /will be redelivered/.test(l.msg) && hasStack(l)));
    const notRejected = [...bySeq.entries()].filter(([seq]) => !rejectedSeqs.has(seq));
    const describe = (entries: Array<[number, string]>) => entries.map(([seq, cat]) => `seq ${seq} ${cat}${redeliveries.has(seq) ? ` (${redeliveries.get(seq)} redeliveries)` : ''}`);
    findings.count(notRejected.length, `of ${count} malformed messages were not rejected`, describe(notRejected));
    findings.count(looping.length, `malformed messages looped (redelivered, never rejected, or more than ${REDELIVERY_BOUND} times)`, describe(looping.map((seq) => [seq, bySeq.get(seq) ?? '?'])));
    findings.count(stillQueued, 'messages still in the submission stream after the settle time');
    findings.count(tasks.length, 'malformed messages were stored as tasks', tasks.map((t) => `${t.id} (${JSON.stringify(t.labels ?? {}).slice(0, 40)})`));
    findings.count(Math.max(0, count - deadLetters.length), 'malformed messages have no dead letter');
    findings.count(Math.max(0, count - events.messages.length), 'malformed messages got no reeve.events.rejected event');
    findings.count(errors.length, 'error/fatal log lines during the fuzz run', errors.map((l) => `${l.msg} ${String((l.err as { message?: string } | undefined)?.message ?? '').slice(0, 120)}`));
    findings.count(stacks.length, 'log lines about malformed input carry a stack trace', stacks.map((l) => `${l.msg} (level ${l.level})`));
    const crashed = !node.running();
    if (crashed) findings.add(`the node exited during the fuzz run (${String(node.child.exitCode ?? node.child.signalCode)}): ${lastLines(node.stderr())}`);
    process.stderr.write(`chaos: [fuzz] NATS: ${count} messages by category ${JSON.stringify(Object.fromEntries(categories))}\n`);
    return {
      malformed: count,
      rejected: events.messages.length,
      deadLetters: deadLetters.length,
      acceptedMalformed: tasks.length,
      unboundedRedeliveries: Math.max(looping.length, stillQueued),
      nodeCrashes: crashed ? 1 : 0,
      errorLogLines: errors.length,
      stackTraces: stacks.length,
    };
  } finally {
    if (node?.running()) {
      const code = await node.stop(5000);
      if (code !== 0) findings.add(`the fuzz node's drain exited ${code}`);
    }
    await observer.close().catch(() => undefined);
    await server.stop();
  }
}
