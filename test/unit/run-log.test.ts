import { existsSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_LINE_CHARS, openRunLog, TAIL_BYTES, type RunLog, type RunLogOptions } from '../../src/pool/run-log.ts';
import { tempDir } from '../support/temp-dir.ts';

describe('run log', () => {
  let dir: { path: string; remove(): void };
  let log: RunLog | undefined;
  const open = (options: Partial<RunLogOptions> = {}) => {
    log = openRunLog({ dir: dir.path, runId: 'r1', secrets: [], ...options });
    return log;
  };
  const read = (suffix = '') => readFileSync(join(dir.path, `r1.log${suffix}`), 'utf8');

  beforeEach(() => {
    dir = tempDir('reeve-run-log-');
  });
  afterEach(async () => {
    await log?.close();
    log = undefined;
    dir.remove();
  });

  it('writes each complete line with its stream prefix as it comes', () => {
    const log = open();
    log.write('stdout', 'first\nsecond\n');
    log.write('stderr', Buffer.from('oops\r\n'));
    expect(read()).toBe('out| first\nout| second\nerr| oops\n');
    expect(log.path).toBe(join(dir.path, 'r1.log'));
  });

  it('joins a partial line across chunks, per stream, and writes the last one on close', async () => {
    const log = open();
    const e = Buffer.from('é');
    log.write('stdout', 'hel');
    log.write('stderr', 'warn\n');
    log.write('stdout', 'lo\nw');
    log.write('stdout', e.subarray(0, 1)); // a UTF-8 character split between two reads
    log.write('stdout', Buffer.concat([e.subarray(1), Buffer.from('rld\nno newline at end')]));
    expect(read()).toBe('err| warn\nout| hello\nout| wérld\n');
    await log.close();
    expect(read()).toBe('err| warn\nout| hello\nout| wérld\nout| no newline at end\n');
    log.write('stdout', 'after close\n');
    expect(read()).not.toContain('after close');
  });

  it('rotates by size, keeps keepFiles files, and never splits a line or overfills a file', async () => {
    const maxBytes = 100;
    const log = open({ maxBytes, keepFiles: 3 });
    const lines = Array.from({ length: 200 }, (_, i) => `line ${String(i).padStart(3, '0')}`);
    // Mixed chunking: some chunks carry many lines, some cut a line in two.
    const text = lines.join('\n') + '\n';
    for (let i = 0; i < text.length; i += 37) log.write('stdout', text.slice(i, i + 37));
    await log.close();
    expect(readdirSync(dir.path).sort()).toEqual(['r1.log', 'r1.log.1', 'r1.log.2']);
    const files = ['.2', '.1', ''].map((suffix) => read(suffix));
    for (const f of files) {
      expect(Buffer.byteLength(f)).toBeLessThanOrEqual(maxBytes);
      expect(f.endsWith('\n')).toBe(true);
    }
    // Oldest to newest, the kept files hold an unbroken run of the last lines.
    const kept = files.join('').split('\n').filter(Boolean);
    expect(kept).toEqual(lines.slice(-kept.length).map((l) => `out| ${l}`));
    expect(kept.length).toBeGreaterThan(2 * Math.floor(maxBytes / 'out| line 000\n'.length));
  });

  it('puts a line longer than maxBytes alone into a file rather than dropping it', async () => {
    const log = open({ maxBytes: 20, keepFiles: 2 });
    log.write('stdout', 'short\n');
    log.write('stdout', `${'z'.repeat(50)}\n`);
    await log.close();
    expect(read('.1')).toBe('out| short\n');
    expect(read()).toBe(`out| ${'z'.repeat(50)}\n`);
  });

  it('redacts secrets in the file and the tail, including one split across chunks', async () => {
    const token = 'sk-live-0123456789abcdef';
    const pem = '-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----';
    const log = open({ secrets: [token, 'abc', pem] });
    log.write('stdout', `using ${token} now\n`);
    log.write('stderr', 'auth: sk-live-0123');
    log.write('stdout', 'unrelated sk-live-\n'); // a lookalike on the other stream stays
    log.write('stderr', Buffer.from('456789abcdef failed\n'));
    log.write('stdout', `key:\n${pem}\n`);
    log.write('stdout', 'abc is too short to be a secret\n');
    await log.close();
    const file = read();
    expect(file).not.toContain(token);
    expect(file).not.toContain('MIIEvQIBADANBgkqhkiG9w0BAQEFAASC');
    expect(file).toContain('out| using [redacted] now\n');
    expect(file).toContain('err| auth: [redacted] failed\n');
    expect(file).toContain('out| unrelated sk-live-\n');
    expect(file).toContain('out| abc is too short to be a secret\n');
    expect(log.tail()).toContain('auth: [redacted] failed');
    expect(log.tail().join('\n')).not.toContain(token);
  });

  it('keeps the lines of both streams within the last tailBytes bytes, without prefix', async () => {
    const log = open({ tailBytes: 11 });
    for (let i = 0; i < 30; i++) log.write(i % 3 === 0 ? 'stderr' : 'stdout', `l${i}\n`);
    log.write('stdout', Array.from({ length: 12 }, (_, i) => `m${i}\n`).join(''));
    // 11 bytes: "m9\nm10\nm11" is 10; one more byte takes the newline before m9.
    expect(log.tail()).toEqual(['', 'm9', 'm10', 'm11']);
    log.write('stderr', 'x\ny\n');
    expect(log.tail()).toEqual(['m10', 'm11', 'x', 'y']);
    log.write('stdout', '\n\nz\n');
    expect(log.tail()).toEqual(['m11', 'x', 'y', '', '', 'z']);
    const none = openRunLog({ dir: dir.path, runId: 'r2', secrets: [], tailBytes: 0 });
    none.write('stdout', 'a\n');
    expect(none.tail()).toEqual([]);
    await none.close();
  });

  it('keeps 16 KiB of tail by default, however many lines that is, and cuts a long line to fit', async () => {
    const log = open();
    // 400 lines of 80 bytes: far more than the old 50-line tail, and an error line among the first.
    log.write('stderr', 'curl: (7) Connection refused\n');
    for (let i = 0; i < 400; i++) log.write('stdout', `${String(i).padStart(79, '.')}\n`);
    let tail = log.tail();
    expect(Buffer.byteLength(tail.join('\n'))).toBe(TAIL_BYTES);
    expect(tail.at(-1)).toBe(String(399).padStart(79, '.'));
    expect(tail.length).toBe(Math.ceil(TAIL_BYTES / 80));
    log.write('stdout', `${'é'.repeat(20_000)}\n`); // 40 000 bytes on one line
    tail = log.tail();
    expect(tail).toHaveLength(1);
    expect(Buffer.byteLength(tail[0]!)).toBe(TAIL_BYTES);
    log.write('stdout', 'ab\n');
    // The byte cut falls inside a two-byte character: no broken character is kept in front.
    expect(log.tail()).toEqual(['é'.repeat((TAIL_BYTES - 4) / 2), 'ab']);
  });

  it('breaks output without newlines into lines of at most MAX_LINE_CHARS instead of buffering it', async () => {
    const log = open({ maxBytes: 64 * 1024 * 1024 });
    const total = 1024 * 1024;
    for (let i = 0; i < total; i += 16 * 1024) log.write('stdout', 'x'.repeat(16 * 1024));
    // Already on disk before any newline or close: at most about one line is held in memory.
    expect(read().length).toBeGreaterThanOrEqual(total - 2 * MAX_LINE_CHARS);
    await log.close();
    const lines = read().split('\n').filter(Boolean);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual('out| '.length + MAX_LINE_CHARS);
    expect(lines.reduce((n, line) => n + line.length - 'out| '.length, 0)).toBe(total);
  });

  it('redacts a secret that straddles the place where a long line is broken', async () => {
    const secret = 'ghp_abcdefghijklmnopqrstuvwxyz';
    const log = open({ secrets: [secret] });
    const text = 'x'.repeat(MAX_LINE_CHARS - 10) + secret + 'y'.repeat(MAX_LINE_CHARS);
    const cut = MAX_LINE_CHARS - 10 + 12; // inside the secret
    log.write('stdout', text.slice(0, cut));
    log.write('stdout', text.slice(cut));
    await log.close();
    const file = read();
    expect(file).not.toContain(secret);
    expect(file).toContain('[redacted]');
    expect(file.replace(/out\| |\n/g, '')).toBe(text.replace(secret, '[redacted]'));
  });

  it('reports an unwritable dir once through onError, and write() never throws', async () => {
    const notADir = join(dir.path, 'file');
    writeFileSync(notADir, '');
    const errors: Error[] = [];
    const log = open({ dir: join(notADir, 'logs'), onError: (err) => errors.push(err) });
    expect(errors).toEqual([]); // not during open: the caller does not hold the log yet
    expect(() => {
      for (let i = 0; i < 10; i++) log.write('stdout', `line ${i}\n`);
    }).not.toThrow();
    await log.close();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'ENOTDIR' });
    expect(log.tail()).toEqual(Array.from({ length: 10 }, (_, i) => `line ${i}`));
  });

  it.runIf(existsSync('/dev/full'))('reports a full disk once and drops later writes', async () => {
    symlinkSync('/dev/full', join(dir.path, 'r1.log'));
    const errors: Error[] = [];
    const log = open({ onError: (err) => errors.push(err) });
    log.write('stdout', 'one\n');
    log.write('stderr', 'two\n');
    await log.close();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'ENOSPC' });
    expect(log.tail()).toEqual(['one', 'two']);
  });

  it('a throwing onError does not reach the writer', () => {
    const log = open({ dir: join('/dev/null', 'x'), onError: () => { throw new Error('boom'); } });
    expect(() => log.write('stdout', 'a\n')).not.toThrow();
  });

  it('rejects options that cannot work, naming the field', () => {
    expect(() => openRunLog({ dir: dir.path, runId: '../escape', secrets: [] })).toThrow(/runId/);
    expect(() => openRunLog({ dir: dir.path, runId: 'r', secrets: [], keepFiles: 0 })).toThrow(/keepFiles/);
    expect(() => openRunLog({ dir: dir.path, runId: 'r', secrets: [], maxBytes: 0 })).toThrow(/maxBytes/);
  });
});
