/**
 * "Did you mean" for unknown keys and environment variables. Compared case-insensitively, so
 * `timeoutms` (as an environment variable spells it) still finds `timeoutMs`.
 */

/** Levenshtein distance: insertions, deletions and substitutions each cost 1. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min(previous[j]! + 1, current[j - 1]! + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * The known key nearest to `key`, if it is within 2 edits. A candidate must be longer than the
 * distance, or any two-letter key would be "near" every short typo.
 */
export function closestKey(key: string, known: readonly string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (distance > 2 || distance >= candidate.length) continue;
    if (!best || distance < best.distance) best = { key: candidate, distance };
  }
  return best?.key;
}

/** ` (did you mean "x"?)`, or an empty string. */
export function didYouMean(key: string, known: readonly string[]): string {
  const near = closestKey(key, known);
  return near === undefined ? '' : ` (did you mean "${near}"?)`;
}
