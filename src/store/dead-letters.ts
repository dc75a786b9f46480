/** Dead letters keep what was received so an operator can see and replay it. */
export const MAX_DEAD_LETTER_BYTES = 1024 * 1024;

/** Keeps the payload whole up to 1 MiB, then cuts it and says so. */
export function truncatePayload(payload: string): string {
  if (Buffer.byteLength(payload, 'utf8') <= MAX_DEAD_LETTER_BYTES) return payload;
  const cut = Buffer.from(payload, 'utf8').subarray(0, MAX_DEAD_LETTER_BYTES).toString('utf8');
  return `${cut}…[truncated]`;
}

