import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { redactingLogger } from '../../src/actors/redacting-logger.ts';
import { nodeLogger } from '../../src/cli/node-log.ts';
import { parseConfig } from '../../src/config/load.ts';
import { ReeveError } from '../../src/errors.ts';
import { createSecretRedactor } from '../../src/protocol/secret-redactor.ts';
import { recordingLogger } from '../support/recording-logger.ts';

const SECRET = 'tok-"x"\\0123456789';
const redactor = createSecretRedactor([SECRET, 'ab', '-----BEGIN KEY-----\nMIIEvQIBADANBgkq\n-----END KEY-----'])!;

describe('SecretRedactor', () => {
  it('has nothing to do without a secret of at least 4 characters', () => {
    expect(createSecretRedactor([])).toBeUndefined();
    expect(createSecretRedactor(['a', 'abc'])).toBeUndefined();
  });

  it('replaces secrets in text, a multi-line secret line by line, and leaves short values alone', () => {
    expect(redactor.text(`key ${SECRET} and ab`)).toBe('key [redacted] and ab');
    expect(redactor.text('line MIIEvQIBADANBgkq end')).toBe('line [redacted] end');
  });

  it('replaces the JSON-escaped form in a serialised line and leaves valid JSON', () => {
    const line = JSON.stringify({ msg: `using ${SECRET}`, nested: { list: [SECRET] } });
    const redacted = redactor.json(line);
    expect(JSON.parse(redacted)).toEqual({ msg: 'using [redacted]', nested: { list: ['[redacted]'] } });
  });

  it('copies only what holds a secret: fields, keys, arrays, and errors that keep their class', () => {
    const clean = { a: 1, b: ['x'], c: { d: 'y' } };
    expect(redactor.value(clean)).toBe(clean);
    const err = new ReeveError('INTERNAL', `auth with ${SECRET} failed`, { data: { header: `Bearer ${SECRET}` } });
    const cyclic: Record<string, unknown> = { token: SECRET, [SECRET]: true, err, list: [1, SECRET], clean };
    cyclic['self'] = cyclic;
    const out = redactor.value(cyclic);
    expect(out).not.toBe(cyclic);
    expect(out).toMatchObject({ token: '[redacted]', '[redacted]': true, list: [1, '[redacted]'] });
    expect(out['clean']).toBe(clean);
    const e = out['err'] as ReeveError;
    expect(e).toBeInstanceOf(ReeveError);
    expect(e).toMatchObject({ code: 'INTERNAL', message: 'auth with [redacted] failed', data: { header: 'Bearer [redacted]' } });
    expect(e.stack).not.toContain(SECRET);
    expect(err.message).toContain(SECRET); // the original is untouched
  });
});

describe('redactingLogger', () => {
  it('redacts messages, fields and child bindings before the logger it wraps sees them', () => {
    const inner = recordingLogger();
    const log = redactingLogger(inner, redactor).child({ task: `t-${SECRET}` });
    log.info({ failure: { message: `refused ${SECRET}` } }, `attempt with ${SECRET}`);
    log.warn(`plain ${SECRET}`);
    expect(JSON.stringify(inner.lines)).not.toContain('0123456789');
    expect(inner.lines[0]).toMatchObject({ fields: { task: 't-[redacted]', failure: { message: 'refused [redacted]' } }, msg: 'attempt with [redacted]' });
    expect(inner.lines[1]).toMatchObject({ msg: 'plain [redacted]' });
  });

  it('is the logger itself when there is nothing to redact', () => {
    const inner = recordingLogger();
    expect(redactingLogger(inner, undefined)).toBe(inner);
  });
});

describe("reeve start's pino root", () => {
  it('redacts a secret from a line logged straight to it, escaped in JSON, error stacks included', () => {
    let out = '';
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => ((out += chunk.toString()), done()) });
    const config = parseConfig({ secrets: [SECRET] }, { baseDir: '/tmp' });
    const log = nodeLogger(config, sink);
    log.error({ err: new Error(`cannot connect with ${SECRET}`), input: { key: SECRET } }, `failed: ${SECRET}`);
    log.flush();
    expect(out).not.toContain('0123456789');
    const line = JSON.parse(out) as { msg: string; input: { key: string }; err: { message: string; stack: string } };
    expect(line).toMatchObject({ msg: 'failed: [redacted]', input: { key: '[redacted]' }, err: { message: 'cannot connect with [redacted]' } });
    expect(line.err.stack).toContain('[redacted]');
  });
});
