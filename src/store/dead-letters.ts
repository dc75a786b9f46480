/** Dead letters keep what was received so an operator can see and replay it. */
export const MAX_DEAD_LETTER_BYTES = 1024 * 1024;
const EXCERPT_CHARS = 200;

/** Keeps the payload whole up to 1 MiB, then cuts it and says so. */
export function truncatePayload(payload: string): string {
  if (Buffer.byteLength(payload, 'utf8') <= MAX_DEAD_LETTER_BYTES) return payload;
  const cut = Buffer.from(payload, 'utf8').subarray(0, MAX_DEAD_LETTER_BYTES).toString('utf8');
  return `${cut}…[truncated]`;
}

/** The first characters, control characters made visible, for `reeve.events.rejected` and listings. */
export function deadLetterExcerpt(payload: string): string {
  // eslint-disable-next-line no-control-regex
  const printable = payload.slice(0, EXCERPT_CHARS).replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return payload.length > EXCERPT_CHARS ? `${printable}…` : printable;
}
