import { describe, expect, it } from 'vitest';
import { classifyFailure, retryAfterHintMs } from '../../src/machines/failure-classifier.ts';

const NOW = Date.UTC(2026, 10, 23, 12, 0, 0);

describe('failure classifier', () => {
  it.each([
    ['an explicit transient class wins over the text', { explicit: { class: 'transient' as const }, message: 'syntax error' }, 'transient'],
    ['an explicit permanent class wins over a 429 in the text', { explicit: { class: 'permanent' as const }, message: 'HTTP 429' }, 'permanent'],
    ['exit code 75 (EX_TEMPFAIL)', { exitCode: 75, message: 'whatever' }, 'transient'],
    ['Anthropic API overload', { exitCode: 1, message: 'API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}' }, 'transient'],
    ['OpenAI rate limit', { exitCode: 1, message: 'openai.RateLimitError: Error code: 429 - Rate limit reached for gpt-4o' }, 'transient'],
    ['a gateway 503', { exitCode: 1, message: '<html><title>503 Service Unavailable</title></html>' }, 'transient'],
    ['a reset connection', { message: 'request to https://api.example.com failed, reason: read ECONNRESET' }, 'transient'],
    ['a timed-out socket', { message: 'connect ETIMEDOUT 10.0.0.1:443' }, 'transient'],
    ['quota exhausted', { exitCode: 1, message: 'You exceeded your current quota, please check your plan and billing details.' }, 'transient'],
    ['"try again later"', { exitCode: 1, message: 'Server busy, please try again later.' }, 'transient'],
    ['a compiler error', { exitCode: 2, message: "src/a.ts(3,7): error TS2322: Type 'string' is not assignable to type 'number'." }, 'permanent'],
    ['a missing file', { exitCode: 1, message: "ENOENT: no such file or directory, open 'config.yml'" }, 'permanent'],
    ['a failing test run', { exitCode: 1, message: 'Tests: 3 failed, 40 passed' }, 'permanent'],
    ['a per-kind pattern', { exitCode: 1, message: 'git push: remote hung up unexpectedly', patterns: ['remote hung up'] }, 'transient'],
    ['a number 429 inside another number is not a rate limit', { exitCode: 1, message: 'processed 14290 files, 3 errors' }, 'permanent'],
  ])('classifies %s', (_what, input, expected) => {
    expect(classifyFailure({ now: NOW, ...input }).class).toBe(expected);
  });

  it('reads a Retry-After hint in seconds, milliseconds or as an HTTP date', () => {
    expect(retryAfterHintMs('429 Too Many Requests; Retry-After: 30', NOW)).toBe(30_000);
    expect(retryAfterHintMs('{"retry_after": 2.5}', NOW)).toBe(2500);
    expect(retryAfterHintMs('retry after 800ms', NOW)).toBe(800);
    expect(retryAfterHintMs('Retry-After: Mon, 23 Nov 2026 12:01:00 GMT', NOW)).toBe(60_000);
    expect(retryAfterHintMs('no hint here', NOW)).toBeUndefined();
  });

  it('attaches the hint to transient failures, including explicit ones without their own', () => {
    expect(classifyFailure({ now: NOW, exitCode: 1, message: 'HTTP 429; retry-after: 12' })).toMatchObject({ class: 'transient', retryAfterMs: 12_000 });
    expect(classifyFailure({ now: NOW, explicit: { class: 'transient', retryAfterMs: 5 }, message: 'retry-after: 12' }).retryAfterMs).toBe(5);
    expect(classifyFailure({ now: NOW, explicit: { class: 'permanent' }, message: 'retry-after: 12' }).retryAfterMs).toBeUndefined();
  });

  it('keeps the code and gives an empty message a useful one', () => {
    expect(classifyFailure({ now: NOW, exitCode: 3, message: '  ' })).toEqual({ class: 'permanent', message: 'exited with code 3' });
    expect(classifyFailure({ now: NOW, message: 'x', code: 'E_X' })).toMatchObject({ code: 'E_X' });
  });
});
