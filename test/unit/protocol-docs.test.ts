import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { protocolJsonSchemas, submitMessageSchema, taskEventSchema } from '../../src/protocol/messages.ts';

const dir = fileURLToPath(new URL('../../docs/protocol/', import.meta.url));

describe('wire protocol', () => {
  it('has docs/protocol/ in step with the zod schemas (run `npm run protocol` after a change)', () => {
    const expected = protocolJsonSchemas();
    expect(readdirSync(dir).filter((f) => f.endsWith('.json')).sort()).toEqual(Object.keys(expected).sort());
    for (const [file, text] of Object.entries(expected)) expect(readFileSync(`${dir}${file}`, 'utf8'), file).toBe(text);
  });

  it('accepts the documented submit and task event shapes and rejects a bad one naming the field', () => {
    expect(submitMessageSchema.safeParse({ kind: 'echo', input: {} }).success).toBe(true);
    const bad = submitMessageSchema.safeParse({ kind: 'echo', id: 'has space' });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.path).toEqual(['id']);
    expect(taskEventSchema.safeParse({ id: 't', kind: 'k', state: 'running', from: 'queued', at: 1, attempts: { transient: 0, permanent: 0, crashes: 0 } }).success).toBe(true);
  });
});
