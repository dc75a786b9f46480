/**
 * Replaces every secret in `text` with `[redacted]`, longest first (a secret that contains
 * another is replaced whole). Values under 4 characters are left: they would shred the text, and
 * the run logs follow the same rule.
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of [...new Set(secrets)].filter((s) => s.length >= 4).sort((a, b) => b.length - a.length)) out = out.split(secret).join('[redacted]');
  return out;
}

/** An error message cut to one reasonable line for status output and logs. */
export function shortMessage(text: string, max = 500): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}
