import { describe, expect, it } from 'vitest';
import { Outbox } from '../../src/http/inspect/outbox.ts';

/**
 * A receiver's queue. The socket is a fake (a process boundary): its writes complete when the
 * test says so, as a real one's do when the peer reads; a peer that never reads never completes.
 */
function socket() {
  const written: string[] = [];
  const pending: Array<() => void> = [];
  return {
    written,
    bufferedAmount: 0,
    send(data: string, done?: (err?: Error) => void) {
      written.push(data);
      pending.push(() => done?.());
    },
    /** The peer read everything written so far. */
    flush() {
      for (const done of pending.splice(0)) done();
    },
  };
}

describe('Outbox', () => {
  it('passes messages straight on while the receiver keeps up', () => {
    const s = socket();
    let drops = 0;
    const box = new Outbox(s, { limit: 10, onDrop: () => drops++ });
    for (let i = 0; i < 100; i++) {
      box.send(`m${i}`);
      s.flush();
    }
    expect(s.written).toHaveLength(100);
    expect(drops).toBe(0);
  });

  it('drops the oldest waiting messages, counted, for a receiver that stops reading, and never holds more than its limit', () => {
    const s = socket();
    let drops = 0;
    const box = new Outbox(s, { limit: 10, onDrop: () => drops++ });
    for (let i = 0; i < 1000; i++) box.send(`m${i}`);
    // 16 writes are in flight; of the rest only the newest 10 wait.
    expect(s.written).toHaveLength(16);
    expect(box.waiting).toBe(10);
    expect(drops).toBe(1000 - 16 - 10);
    // It reads again: what waited goes out, newest last.
    s.flush();
    expect(s.written.slice(16)).toEqual(Array.from({ length: 10 }, (_, i) => `m${990 + i}`));
  });

  it('holds back while the socket has a megabyte unwritten', () => {
    const s = socket();
    s.bufferedAmount = 2 << 20;
    const box = new Outbox(s, { limit: 5, onDrop: () => undefined });
    box.send('a');
    expect(s.written).toHaveLength(0);
    s.bufferedAmount = 0;
    box.send('b');
    expect(s.written).toEqual(['a', 'b']);
  });

  it('sends nothing more once closed', () => {
    const s = socket();
    const box = new Outbox(s, { limit: 5, onDrop: () => undefined });
    box.close();
    box.send('a');
    expect(s.written).toEqual([]);
  });
});
