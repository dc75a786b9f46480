/**
 * The SSE path alone, without a node beside it: task events published on an in-process bus at a
 * given rate, through the EventFeed and the SseHub to K clients on real sockets (in a child
 * process), against the same publishing with no listener. The difference in this process's CPU
 * time per event is what the dashboards cost, free of a node's own timers and of the run-to-run
 * noise of whole task rounds (bench/http.ts prints it beside the end-to-end figure).
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../src/ports/logger.ts';
import { EventFeed } from '../src/http/event-feed.ts';
import { SseHub } from '../src/http/sse.ts';
import { InProcessBus } from '../src/transport/in-process-bus.ts';
import { subjects } from '../src/protocol/subjects.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * K SSE clients in a child process. Frames are counted by scanning the bytes for the blank line
 * that ends each one, without building strings: the client's own parsing is not the node's cost,
 * and on a small machine it would take CPU from the node.
 */
export async function sseClients(port: number, count: number, path: string, options: { nice?: boolean } = {}): Promise<{ stop(): Promise<{ frames: number; cpuUs: number }> }> {
  const script = `
    const http = require('node:http'); let frames = 0, open = 0;
    for (let i = 0; i < ${count}; i++) http.get({ host: '127.0.0.1', port: ${port}, path: ${JSON.stringify(path)} }, (res) => {
      if (++open === ${count}) process.stdout.write('open\\n');
      let last = 0;
      res.on('data', (d) => { if (last === 10 && d[0] === 10) frames++; for (let i = d.indexOf(10); i !== -1; i = d.indexOf(10, i + 1)) if (d[i + 1] === 10) frames++; last = d[d.length - 1]; });
    });
    let cpu; process.stdin.once('data', () => (cpu = process.cpuUsage()));
    process.on('SIGTERM', () => { const u = process.cpuUsage(cpu); process.stdout.write('frames ' + frames + ' cpu ' + (u.user + u.system) + '\\n'); process.exit(0); });`;
  // `nice`: the clients yield the cores to the node, as dashboards in browsers elsewhere would.
  const argv = [process.execPath, '-e', script];
  const child = options.nice ? spawn('nice', ['-n', '19', ...argv], { stdio: ['pipe', 'pipe', 'inherit'] }) : spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  while (!out.includes('open')) await sleep(10);
  // The clients' own CPU is counted from here: on a small shared machine it is taken from the
  // node, though a real dashboard runs in a browser elsewhere.
  child.stdin.write('go\n');
  return {
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.on('exit', resolve));
      const [, frames, cpuUs] = /frames (\d+) cpu (\d+)/.exec(out) ?? [];
      // The `retry:` line of each stream ends in a blank line too.
      return { frames: Math.max(0, Number(frames ?? 0) - count), cpuUs: Number(cpuUs ?? 0) };
    },
  };
}

/** Median CPU µs per event with `clients` SSE clients minus with none, over ABBA rounds. */
export async function ssePathCost(options: { ratePerSecond: number; clients: number; rounds: number; seconds: number; log: Logger }): Promise<{ without: number[]; with: number[]; perEvent: number }> {
  const bus = new InProcessBus({ log: options.log });
  const s = subjects('bench');
  const feed = new EventFeed({ bus, subjects: s, store: { query: async () => [] }, log: options.log });
  const hub = new SseHub(feed, (text) => text);
  const server = createServer((req, res) => hub.serve(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  let n = 0;
  const round = async (withClients: boolean): Promise<number> => {
    const clients = withClients ? await sseClients(port, options.clients, '/') : undefined;
    await sleep(200);
    const cpu = process.cpuUsage();
    const start = performance.now();
    let sent = 0;
    const prefix = `r${n++}`;
    // A node's pace: its events as they come, a few at a time, the loop turning in between.
    while (performance.now() - start < options.seconds * 1000) {
      const due = Math.floor(((performance.now() - start) / 1000) * options.ratePerSecond);
      for (; sent < due; sent++) {
        const id = `${prefix}-${Math.floor(sent / 3)}`;
        const step = sent % 3;
        bus.publish(s.taskEvent(id), { id, kind: 'noop', state: ['queued', 'running', 'succeeded'][step], from: [null, 'queued', 'running'][step], at: Date.now(), attempts: { transient: 0, permanent: 0, crashes: 0 }, ...(step === 2 ? { result: null } : {}) });
      }
      await sleep(2);
    }
    await sleep(300); // the last window flushed
    const used = process.cpuUsage(cpu);
    await clients?.stop();
    return (used.user + used.system) / sent;
  };
  const without: number[] = [];
  const withClients: number[] = [];
  for (let r = 0; r < options.rounds; r++) {
    if (r % 2 === 1) withClients.push(await round(true));
    without.push(await round(false));
    if (r % 2 === 0) withClients.push(await round(true));
  }
  hub.close();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await bus.close();
  return { without, with: withClients, perEvent: median(withClients) - median(without) };
}

export function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
