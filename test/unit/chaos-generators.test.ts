import { describe, expect, it } from 'vitest';
import { configCase } from '../../chaos/lib/config-cases.ts';
import { malformed } from '../../chaos/lib/malformed.ts';
import { rng } from '../../chaos/lib/rng.ts';
import { submitMessageSchema } from '../../src/protocol/messages.ts';

/**
 * The chaos suite (`npm run chaos`, see chaos/run.ts) counts every generated submission that is
 * not rejected as a defect of Reeve, so its generator must never produce a valid one by accident.
 * (The scenarios themselves take tens of seconds each and are not part of `npm test`.)
 */
describe('the chaos generators', () => {
  it('produce only submissions the contract rejects', () => {
    const r = rng(7);
    const decoder = new TextDecoder('utf-8', { fatal: true });
    for (let i = 0; i < 2000; i++) {
      const m = malformed(r, i);
      const text = typeof m.body === 'string' ? m.body : (() => { try { return decoder.decode(m.body); } catch { return undefined; } })();
      if (text === undefined || m.category === 'deep-input' || m.category === 'huge-input') continue; // invalid by encoding, depth or size
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        continue;
      }
      const parsed = submitMessageSchema.safeParse(body);
      const headerMismatch = m.header !== undefined && (!parsed.success || parsed.data.id !== m.header);
      const unknownKind = parsed.success && parsed.data.kind !== 'echo';
      expect(!parsed.success || headerMismatch || unknownKind, `${m.category}: ${text.slice(0, 120)}`).toBe(true);
    }
  });

  it('are reproducible from the seed', () => {
    const a = rng(42);
    const b = rng(42);
    const draw = (r: typeof a) => Array.from({ length: 50 }, (_, i) => [malformed(r, i).category, configCase(r).label]);
    expect(draw(a)).toEqual(draw(b));
  });
});
