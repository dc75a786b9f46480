import { describe, expect, it } from 'vitest';
import { payloadExcerpt } from '../../src/protocol/excerpt.ts';

describe('payloadExcerpt (dead letters and every rejection)', () => {
  it('keeps a short printable payload as it is', () => {
    expect(payloadExcerpt('{"kind":"echo"}')).toBe('{"kind":"echo"}');
  });

  it('escapes C0/C1 controls, DEL, line separators, bidi overrides and U+FFFD', () => {
    expect(payloadExcerpt('a\nb\u0007c\u007fd\u0085e\u2028f\u202eg\u2066h\ufffd')).toBe('a\\u000ab\\u0007c\\u007fd\\u0085e\\u2028f\\u202eg\\u2066h\\ufffd');
  });

  it('cuts at 200 characters with an ellipsis, never inside a surrogate pair', () => {
    expect(payloadExcerpt('x'.repeat(500))).toBe(`${'x'.repeat(200)}…`);
    const cut = payloadExcerpt(`${'x'.repeat(199)}😀tail`);
    expect(cut).toBe(`${'x'.repeat(199)}…`);
  });
});
