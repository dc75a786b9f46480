/**
 * What an operator sees of a payload that was rejected or dead-lettered: its first `max`
 * characters on one line, with every character that could hide or rewrite what a terminal shows
 * (C0 and C1 controls, DEL, line and paragraph separators, bidi overrides and isolates, and the
 * replacement character of bytes that were not UTF-8) written as a `\uXXXX` escape. One function
 * for dead letters, `reeve.events.rejected` and every rejection path, so they all show the same.
 */
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufffd]/g;

export const EXCERPT_CHARS = 200;

export function payloadExcerpt(payload: string, max = EXCERPT_CHARS): string {
  let head = payload.slice(0, max);
  // A cut between the halves of a surrogate pair would leave half a character.
  if (head.length < payload.length && /[\ud800-\udbff]$/.test(head)) head = head.slice(0, -1);
  const printable = head.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return head.length < payload.length ? `${printable}…` : printable;
}
