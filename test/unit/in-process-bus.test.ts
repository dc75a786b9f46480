import { afterEach, describe, expect, it } from 'vitest';
import type { BusMessage } from '../../src/ports/bus.ts';
import { decodeMessage } from '../../src/transport/bus-message.ts';
import { InProcessBus } from '../../src/transport/in-process-bus.ts';
import { matchesPattern, parsePattern } from '../../src/transport/subject-pattern.ts';
import { recordingLogger } from '../support/recording-logger.ts';

let bus: InProcessBus;
let log: ReturnType<typeof recordingLogger>;

function openBus(): InProcessBus {
  log = recordingLogger();
  bus = new InProcessBus({ log });
  return bus;
}

afterEach(async () => {
  await bus?.close();
});

/** Subscribes and keeps every message it receives. */
function collect(pattern: string): BusMessage[] {
  const received: BusMessage[] = [];
  bus.subscribe(pattern, (message) => {
    received.push(message);
  });
  return received;
}

describe('InProcessBus', () => {
  it('delivers by NATS wildcards: `*` matches one token, `>` one or more', async () => {
    openBus();
    const exact = collect('reeve.events.task.t1');
    const oneToken = collect('reeve.events.task.*');
    const rest = collect('reeve.events.>');
    const everything = collect('>');
    for (const subject of ['reeve.events.task.t1', 'reeve.events.task.t2', 'reeve.events.task.t1.extra', 'reeve.events', 'other']) {
      bus.publish(subject, { subject });
    }
    await bus.flush();
    const subjects = (messages: BusMessage[]) => messages.map((m) => m.subject);
    expect(subjects(exact)).toEqual(['reeve.events.task.t1']);
    expect(subjects(oneToken)).toEqual(['reeve.events.task.t1', 'reeve.events.task.t2']);
    expect(subjects(rest)).toEqual(['reeve.events.task.t1', 'reeve.events.task.t2', 'reeve.events.task.t1.extra']);
    expect(subjects(everything)).toHaveLength(5);
  });

  it('matches patterns token by token', () => {
    const match = (pattern: string, subject: string) => matchesPattern(parsePattern(pattern), subject.split('.'));
    expect(match('a.*.c', 'a.b.c')).toBe(true);
    expect(match('a.*', 'a')).toBe(false);
    expect(match('a.>', 'a')).toBe(false);
    expect(match('a.>', 'a.b.c')).toBe(true);
    expect(match('a.b', 'a.b.c')).toBe(false);
    expect(match('*.*', 'a.b')).toBe(true);
  });

  it('delivers asynchronously, never inside the publisher\'s call', async () => {
    openBus();
    const received = collect('a');
    bus.publish('a', 1);
    expect(received).toHaveLength(0);
    await bus.flush();
    expect(received.map((m) => m.data)).toEqual([1]);
  });

  it('gives every subscriber its own parsed copy of the JSON text', async () => {
    openBus();
    const first: BusMessage[] = [];
    const second = collect('a');
    bus.subscribe('a', (message) => {
      (message.data as { items: number[] }).items.push(99);
      first.push(message);
    });
    const sent = { items: [1], at: new Date(0) };
    bus.publish('a', sent);
    sent.items.push(2);
    await bus.flush();
    expect(sent.items).toEqual([1, 2]);
    expect(first[0]!.data).toEqual({ items: [1, 99], at: '1970-01-01T00:00:00.000Z' });
    expect(second[0]!.data).toEqual({ items: [1], at: '1970-01-01T00:00:00.000Z' });
    expect(second[0]!.raw).toBe('{"items":[1],"at":"1970-01-01T00:00:00.000Z"}');
    expect(second[0]!.reply).toBeUndefined();
  });

  it('parses a received body once per subscriber: the same object on every read, a fresh one per message', () => {
    const raw = '{"items":[1]}';
    const mine = decodeMessage('a', raw, undefined);
    const theirs = decodeMessage('a', raw, undefined);
    expect(mine.data).toBe(mine.data);
    (mine.data as { items: number[] }).items.push(2);
    expect(mine.data).toEqual({ items: [1, 2] });
    expect(theirs.data).toEqual({ items: [1] });
    expect(mine.error).toBeUndefined();
    expect(JSON.parse(JSON.stringify(theirs))).toEqual({ subject: 'a', data: { items: [1] }, raw });
  });

  it('reports a body that is not JSON in `error` when read, never by throwing', () => {
    const message = decodeMessage('reeve.events.task.x', '{"id": ', 'inbox.1');
    expect(message.data).toBeUndefined();
    expect(message.error).toMatchObject({ code: 'INVALID_INPUT', message: expect.stringMatching(/message on reeve\.events\.task\.x: \(body\): is not JSON/) });
    expect(message).toMatchObject({ subject: 'reeve.events.task.x', raw: '{"id": ', reply: 'inbox.1' });
  });

  it('sends undefined as null and refuses what JSON cannot hold', async () => {
    openBus();
    const received = collect('a');
    bus.publish('a', undefined);
    await bus.flush();
    expect(received[0]).toMatchObject({ data: null, raw: 'null' });
    expect(() => bus.publish('a', { n: 1n })).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
  });

  it('logs a throwing or rejecting handler and still delivers to the others, and later messages', async () => {
    openBus();
    bus.subscribe('a', () => {
      throw new Error('handler bug');
    });
    bus.subscribe('a', async () => {
      throw new Error('async handler bug');
    });
    const received = collect('a');
    bus.publish('a', 1);
    bus.publish('a', 2);
    await bus.flush();
    await new Promise((resolve) => setImmediate(resolve)); // the rejections are reported a tick later
    expect(received.map((m) => m.data)).toEqual([1, 2]);
    const failures = log.lines.filter((l) => l.msg === 'bus handler failed');
    expect(failures).toHaveLength(4);
    expect(failures.every((l) => l.level === 'error' && l.fields.subject === 'a')).toBe(true);
    expect(failures.map((l) => (l.fields.err as Error).message).sort()).toEqual(['async handler bug', 'async handler bug', 'handler bug', 'handler bug']);
  });

  it('stops delivering after unsubscribe, including messages published but not yet delivered', async () => {
    openBus();
    const received: BusMessage[] = [];
    const subscription = bus.subscribe('a', (message) => {
      received.push(message);
    });
    bus.publish('a', 1);
    subscription.unsubscribe();
    subscription.unsubscribe();
    bus.publish('a', 2);
    await bus.flush();
    expect(received).toHaveLength(0);
  });

  it('answers a request by a publish to its reply subject, with the first reply only', async () => {
    openBus();
    bus.subscribe('svc.echo', (message) => {
      expect(message.reply).toMatch(/^_INBOX\./);
      bus.publish(message.reply!, { echoed: message.data });
    });
    bus.subscribe('svc.echo', (message) => {
      bus.publish(message.reply!, { second: true });
    });
    const reply = await bus.request('svc.echo', { n: 7 }, 1000);
    expect(reply.data).toEqual({ echoed: { n: 7 } });
    expect(reply.reply).toBeUndefined();
  });

  it('gives each message to one member of a queue group, and to every plain subscriber', async () => {
    openBus();
    const members = [0, 0, 0];
    for (const i of [0, 1, 2]) bus.subscribe('reeve.control.task.*', () => {
      members[i]!++;
    }, { queue: 'q' });
    const plain = collect('reeve.control.task.*');
    for (let i = 0; i < 30; i++) bus.publish(`reeve.control.task.t${i}`, {});
    await bus.flush();
    await bus.flush();
    expect(members.reduce((a, b) => a + b, 0)).toBe(30);
    expect(plain).toHaveLength(30);
  });

  it('answers a request once when its responders form a queue group', async () => {
    openBus();
    let answered = 0;
    for (let i = 0; i < 3; i++) {
      bus.subscribe('svc.once', (message) => {
        answered++;
        bus.publish(message.reply!, { by: i });
      }, { queue: 'svc' });
    }
    await bus.request('svc.once', {}, 1000);
    await bus.flush();
    expect(answered).toBe(1);
  });

  it('rejects a request nobody answers in time with STORE_UNAVAILABLE', async () => {
    openBus();
    bus.subscribe('svc.silent', () => {});
    await expect(bus.request('svc.silent', {}, 20)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', data: { reason: 'timeout', subject: 'svc.silent' } });
  });

  it('rejects a request with no subscriber at once, as NATS reports no responders', async () => {
    openBus();
    await expect(bus.request('svc.none', {}, 60_000)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', data: { reason: 'no-responders' } });
  });

  it('refuses subjects NATS would refuse', async () => {
    openBus();
    for (const subject of ['', 'a..b', 'a.', 'a b', 'a.*', 'a.>']) {
      expect(() => bus.publish(subject, 1), subject).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    }
    for (const pattern of ['a.>.b', 'a.b*', '', 'a..b']) {
      expect(() => bus.subscribe(pattern, () => {}), pattern).toThrow(expect.objectContaining({ code: 'INVALID_INPUT' }));
    }
    await expect(bus.request('a.*', {}, 100)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    await expect(bus.request('a', {}, 0)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
  });

  it('is always online, and after close fails pending requests, ignores publishes and refuses subscriptions', async () => {
    openBus();
    const statuses: string[] = [];
    const stopListening = bus.onStatus((status) => statuses.push(status));
    expect(bus.status).toBe('online');
    bus.subscribe('svc.slow', () => {});
    const pending = bus.request('svc.slow', {}, 60_000);
    const received = collect('a');
    await bus.close();
    await expect(pending).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE', data: { reason: 'closed' } });
    bus.publish('a', 1);
    await bus.flush();
    expect(received).toHaveLength(0);
    expect(() => bus.subscribe('a', () => {})).toThrow(expect.objectContaining({ code: 'STORE_UNAVAILABLE' }));
    stopListening();
    expect(statuses).toEqual([]);
  });
});
