import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createWebSocketReceiver } from '@statelyai/inspect';
import { project, startReeve } from './cli.ts';
import { send, type HttpAnswer, type RequestOptions } from './http-node.ts';

/** A real `reeve start --inspect` process: its printed dashboard and inspector URLs. */
export interface InspectNode {
  /** `http://127.0.0.1:PORT` */
  base: string;
  port: number;
  token: string;
  /** `ws://127.0.0.1:PORT/inspect` (with `?token=` when reads need it), as the node printed it. */
  inspectUrl: string;
  dir: string;
  stderr(): string;
  request(method: string, path: string, options?: RequestOptions): Promise<HttpAnswer>;
  /** Submits over HTTP and returns the task id. */
  submit(body: Record<string, unknown>): Promise<string>;
  stop(): Promise<void>;
}

export async function startInspectNode(options: {
  agents: Record<string, unknown>;
  config?: Record<string, unknown>;
  args?: string[];
  natsUrl?: string;
  /** Default true: wait for the `inspect:` line (false: a node that only pushes, with HTTP on). */
  relay?: boolean;
}): Promise<InspectNode> {
  const tag = randomUUID().slice(0, 8);
  const p = project({
    node: { pollIntervalMs: 50, logLevel: 'warn', dataDir: '.reeve', leaseTtlMs: 3000 },
    ...(options.natsUrl ? { store: { type: 'nats', bucket: `insp-${tag}` }, nats: { servers: [options.natsUrl], prefix: `i${tag}`, stream: `INSP_${tag}` } } : {}),
    ...options.config,
    agents: options.agents,
  });
  const child = startReeve(p.dir, {}, options.args ?? ['--inspect']);
  const until = Date.now() + 30_000;
  let dashboard: string | undefined;
  let inspect: string | undefined;
  const relay = options.relay ?? true;
  while (!dashboard || (relay && !inspect)) {
    dashboard = /dashboard: (\S+)/.exec(child.stderrText())?.[1];
    inspect = /inspect: (\S+)/.exec(child.stderrText())?.[1];
    if (child.exitCode !== null || Date.now() > until) {
      child.kill('SIGKILL');
      p.remove();
      throw new Error(`reeve start --inspect did not print its URLs:\n${child.stderrText()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const token = dashboard.slice(dashboard.indexOf('#token=') + 7);
  const base = dashboard.slice(0, dashboard.indexOf('/#'));
  const port = Number(new URL(base).port);
  const request = (method: string, path: string, o: RequestOptions = {}) => send(port, method, path, { ...o, token: o.token === undefined ? token : o.token });
  return {
    base,
    port,
    token,
    inspectUrl: inspect ?? '',
    dir: p.dir,
    stderr: () => child.stderrText(),
    request,
    submit: async (body) => {
      const r = await request('POST', '/api/v1/tasks', { body });
      if (r.status !== 201 && r.status !== 200) throw new Error(`submit answered ${r.status}: ${r.text}`);
      return (r.json() as { task: { id: string } }).task.id;
    },
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await child.exited;
      clearTimeout(timer);
      p.remove();
    },
  };
}

/** A Stately inspection event as received (the fields of all three types, loosely typed). */
export interface Inspected {
  type: '@xstate.actor' | '@xstate.event' | '@xstate.snapshot';
  sessionId: string;
  rootId?: string;
  parentId?: string;
  name?: string;
  definition?: string;
  sourceId?: string;
  event?: { type: string; [field: string]: unknown };
  snapshot?: { status?: string; value?: unknown; context?: any };
}

/** Every inspection event a real `createWebSocketReceiver` (from @statelyai/inspect) receives. */
export interface Received {
  events: Inspected[];
  /** Waits until `pred` holds for some event; returns it. */
  waitFor(pred: (e: Inspected) => boolean, what: string, timeoutMs?: number): Promise<Inspected>;
  stop(): void;
}

export function receive(url: string): Received {
  const events: Inspected[] = [];
  const receiver = createWebSocketReceiver({ server: url });
  const sub = receiver.subscribe((e) => events.push(e as unknown as Inspected));
  return {
    events,
    async waitFor(pred, what, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const found = events.find(pred);
        if (found) return found;
        if (Date.now() > until) throw new Error(`no inspection event ${what} within ${timeoutMs} ms; got ${events.length}: ${events.slice(-5).map((e) => `${e.type} ${e.sessionId}`).join('; ')}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    stop: () => sub.unsubscribe(),
  };
}

/**
 * A store fault: the node's SQLite file refuses to record node beacons (a trigger aborts the
 * write), so its `beacon` loop crashes and its supervisor restarts it. Returns the function
 * that removes the fault.
 */
export function failBeacons(dir: string): () => void {
  const db = new Database(join(dir, '.reeve', 'reeve.db'));
  db.pragma('busy_timeout = 5000');
  db.exec(`CREATE TRIGGER IF NOT EXISTS test_fail_beacon BEFORE UPDATE ON nodes BEGIN SELECT RAISE(ABORT, 'injected store fault'); END;
           CREATE TRIGGER IF NOT EXISTS test_fail_beacon_insert BEFORE INSERT ON nodes BEGIN SELECT RAISE(ABORT, 'injected store fault'); END;`);
  return () => {
    db.exec('DROP TRIGGER IF EXISTS test_fail_beacon; DROP TRIGGER IF EXISTS test_fail_beacon_insert;');
    db.close();
  };
}
