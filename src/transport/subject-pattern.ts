import { InvalidInputError } from '../errors.ts';

/**
 * NATS subject rules, shared by both buses so that a subject the in-process bus accepts is one
 * NATS accepts too (and the other way round): dot-separated non-empty tokens, no whitespace;
 * in a subscription `*` is one whole token and `>` the whole last token.
 */

const whitespace = /\s/;

function refuse(subject: string, why: string): never {
  throw new InvalidInputError('bus subject', [{ path: 'subject', message: `${JSON.stringify(subject)} ${why}` }]);
}

function tokensOf(subject: string): string[] {
  if (typeof subject !== 'string' || subject === '') refuse(String(subject), 'is empty; expected tokens such as "reeve.events.task.t1"');
  if (whitespace.test(subject)) refuse(subject, 'contains whitespace, which NATS does not allow in a subject');
  const tokens = subject.split('.');
  if (tokens.includes('')) refuse(subject, 'has an empty token (a leading, trailing or double dot)');
  return tokens;
}

/** A subject a message is published to: no wildcards (NATS would deliver it literally, which is never meant). */
export function assertPublishSubject(subject: string): void {
  for (const token of tokensOf(subject)) {
    if (token.includes('*') || token.includes('>')) refuse(subject, 'contains a wildcard; publish to a concrete subject');
  }
}

/** A subscription pattern; returns its tokens for `matchesPattern`. */
export function parsePattern(pattern: string): string[] {
  const tokens = tokensOf(pattern);
  tokens.forEach((token, i) => {
    if (token === '>' && i !== tokens.length - 1) refuse(pattern, 'has ">" before its last token; ">" matches the rest and must come last');
    if (token !== '*' && token !== '>' && (token.includes('*') || token.includes('>'))) {
      refuse(pattern, 'uses a wildcard inside a token; "*" and ">" must be whole tokens');
    }
  });
  return tokens;
}

/** True when every token matches: `*` one token, a final `>` one or more (as in NATS). */
export function matchesPattern(pattern: readonly string[], subject: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const token = pattern[i];
    if (token === '>') return subject.length > i;
    if (i >= subject.length) return false;
    if (token !== '*' && token !== subject[i]) return false;
  }
  return pattern.length === subject.length;
}

export function isWildcardPattern(pattern: readonly string[]): boolean {
  return pattern.some((token) => token === '*' || token === '>');
}
