import { describe, expect, it } from 'vitest';
import { Releasers } from '../../src/node/releasers.ts';
import { recordingLogger } from '../support/recording-logger.ts';

describe('Releasers (what a node releases on shutdown)', () => {
  it('releases in reverse order of registration, waiting for each', async () => {
    const order: string[] = [];
    const releasers = new Releasers(recordingLogger());
    releasers.defer('store', () => order.push('store'));
    releasers.defer('server', async () => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      order.push('server');
    });
    releasers.defer('tree', () => order.push('tree'));
    await releasers.releaseAll();
    expect(order).toEqual(['tree', 'server', 'store']);
  });

  it('logs a failing release with its name and still releases the rest', async () => {
    const log = recordingLogger();
    const order: string[] = [];
    const releasers = new Releasers(log);
    releasers.defer('store', () => order.push('store'));
    releasers.defer('server', () => Promise.reject(new Error('port stuck')));
    releasers.defer('watch', () => {
      throw new Error('already gone');
    });
    await releasers.releaseAll();
    expect(order).toEqual(['store']);
    expect(log.lines.filter((l) => l.level === 'error').map((l) => [l.fields['resource'], (l.fields['err'] as Error).message])).toEqual([
      ['watch', 'already gone'],
      ['server', 'port stuck'],
    ]);
  });

  it('releases once however often releaseAll is called', async () => {
    let released = 0;
    const releasers = new Releasers(recordingLogger());
    releasers.defer('store', () => released++);
    await Promise.all([releasers.releaseAll(), releasers.releaseAll()]);
    await releasers.releaseAll();
    expect(released).toBe(1);
  });

  it('releases at once what is acquired after releasing began', async () => {
    const order: string[] = [];
    const releasers = new Releasers(recordingLogger());
    let finish!: () => void;
    releasers.defer('slow', () => new Promise<void>((resolve) => (finish = resolve)).then(() => order.push('slow')));
    const all = releasers.releaseAll();
    releasers.defer('late', () => order.push('late'));
    await Promise.resolve();
    expect(order).toEqual(['late']);
    finish();
    await all;
    expect(order).toEqual(['late', 'slow']);
  });
});
