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

  // Output as the tools print it (the last lines of a failed run), one case per line.
  it.each([
    ['curl: connection refused', 'curl: (7) Failed to connect to localhost port 8080 after 0 ms: Connection refused'],
    ['curl: operation timed out', 'curl: (28) Operation timed out after 5001 milliseconds with 0 bytes received'],
    ['curl: an HTTP 503 with --fail', 'curl: (22) The requested URL returned error: 503'],
    ['curl: a reset connection', 'curl: (56) Recv failure: Connection reset by peer'],
    ['curl: an old "Timeout was reached"', 'curl: (28) Timeout was reached'],
    ['git over https: connection refused', "fatal: unable to access 'https://github.com/o/r.git/': Failed to connect to github.com port 443 after 130 ms: Connection refused"],
    ['git over https: a 502 from the forge', "error: RPC failed; HTTP 502 curl 22 The requested URL returned error: 502\nfatal: expected flush after ref listing"],
    ['git over ssh: connection timed out', 'ssh: connect to host github.com port 22: Connection timed out\nfatal: Could not read from remote repository.'],
    ['git over ssh: reset during key exchange', 'kex_exchange_identification: read: Connection reset by peer\nConnection reset by 140.82.121.4 port 22'],
    ['git: DNS temporarily failing', 'ssh: Could not resolve hostname github.com: Temporary failure in name resolution'],
    ['npm: ECONNRESET', 'npm ERR! code ECONNRESET\nnpm ERR! network aborted\nnpm ERR! network This is a problem related to network connectivity.'],
    ['npm: EAI_AGAIN', 'npm error code EAI_AGAIN\nnpm error syscall getaddrinfo\nnpm error request to https://registry.npmjs.org/zod failed, reason: getaddrinfo EAI_AGAIN registry.npmjs.org'],
    ['npm: ETIMEDOUT', 'npm error code ETIMEDOUT\nnpm error errno ETIMEDOUT'],
    ['npm: a registry 503', 'npm ERR! code E503\nnpm ERR! 503 Service Unavailable - GET https://registry.npmjs.org/zod'],
    ['node: socket hang up', 'FetchError: request to https://api.example.com/v1 failed, reason: socket hang up'],
    ['node: a broken pipe', 'Error: write EPIPE\n    at afterWriteDispatched (node:internal/stream_base_commons:161:15)'],
    ['node: a refused connection', 'Error: connect ECONNREFUSED 127.0.0.1:5432\n    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)'],
    ['axios: timeout of N ms exceeded', 'AxiosError: timeout of 30000ms exceeded'],
    ['Python requests: a read timeout', "requests.exceptions.ReadTimeout: HTTPSConnectionPool(host='api.example.com', port=443): Read timed out. (read timeout=60)"],
    ['Go: context deadline exceeded', 'Error response from daemon: Get "https://registry-1.docker.io/v2/": context deadline exceeded'],
    ['Go: Client.Timeout exceeded', 'net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)'],
    ['Claude Code: 529 overloaded', 'API Error: 529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'],
    ['Anthropic SDK: 529', "anthropic.InternalServerError: Error code: 529 - {'type': 'error', 'error': {'type': 'overloaded_error', 'message': 'Overloaded'}}"],
    ['Anthropic SDK: rate limited with retry-after', "retry-after: 17\nanthropic.RateLimitError: Error code: 429 - {'type': 'error', 'error': {'type': 'rate_limit_error', 'message': 'This request would exceed the rate limit for your organization'}}"],
    ['OpenAI Codex CLI: 429 after its own retries', 'ERROR: exceeded retry limit, last status: 429 Too Many Requests'],
    ['OpenAI Codex CLI: a 503', 'ERROR: unexpected status 503 Service Unavailable: upstream connect error'],
    ['Gemini CLI: model overloaded', '[API Error: got status: 503 Service Unavailable. {"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}}]'],
    ['gRPC: RESOURCE_EXHAUSTED', '8 RESOURCE_EXHAUSTED: Quota exceeded for quota metric'],
    ['nginx: 504 gateway time-out', '<html><head><title>504 Gateway Time-out</title></head>'],
    ['a gateway 502 as JSON', '{"status": 502, "message": "upstream error"}'],
    ['a 503 in a logfmt line', 'level=error msg="upstream failed" status=503'],
    ['EAGAIN as text', 'fork: Resource temporarily unavailable'],
  ])('classifies as transient: %s', (_what, message) => {
    expect(classifyFailure({ now: NOW, exitCode: 1, message }).class).toBe('transient');
  });

  // Permanent failures that mention a transient-sounding word: the rules in transient-evidence.ts.
  it.each([
    ['an unknown option named like a rate limit', "error: unknown option '--retry-on-rate-limit'"],
    ['an invalid value for --timeout (clap)', "error: invalid value 'soon' for '--timeout <SECS>': invalid digit found in string\n\nFor more information, try '--help'."],
    ['a missing argument to --timeout (commander)', "error: option '--timeout <ms>' argument missing"],
    ['argparse: an invalid timeout', 'usage: fetch [-h] [--timeout TIMEOUT] url\nfetch: error: argument --timeout: invalid int value: \'x\''],
    ['a help listing after a usage error', "Usage: tool [options] URL\n  -m, --max-time <seconds>  request timeout, retried on 503\n  --retry-on-rate-limit     wait and try again"],
    ['yargs: unknown arguments named like outages', 'Unknown arguments: rate-limit, retry-on-overloaded'],
    ['a command line echoed with its options (set -x)', '+ fetch --connect-timeout 5 --retry-on-rate-limit https://example.com/feed\nfetch: 404 Not Found'],
    ['curl: an unknown option', 'curl: option --rate-limit: is unknown\ncurl: try \'curl --help\' for more information'],
    ['a config check about a timeout', 'TypeError: options.timeout must be a positive integer (got -1)'],
    ['source echoed by an agent', '+  const timeout = 30_000;\n+  if (res.status == 503) return retry();\nerror: 3 type errors'],
    ['a test that timed out (vitest)', 'FAIL  test/api.test.ts > fetches the page\nError: Test timed out in 5000ms.\nTests  1 failed | 12 passed'],
    ['a test that timed out (jest)', 'thrown: "Exceeded timeout of 5000 ms for a test.'],
    ['a test that timed out (mocha)', 'Error: Timeout of 2000ms exceeded. For async tests and hooks, ensure "done()" is called'],
    ['a line number 503 in a compiler error', "src/server.ts:503:7 - error TS2304: Cannot find name 'timeout'."],
    ['a count of 502 records', 'imported 502 records, 1 rejected: duplicate key'],
    ['git: authentication failed', "remote: Invalid username or token.\nfatal: Authentication failed for 'https://github.com/o/r.git/'"],
    ['curl: a host that does not exist', 'curl: (6) Could not resolve host: api.exmaple.com'],
    ['an Anthropic 401', 'API Error: 401 {"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}'],
    ['npm: a package that does not exist', "npm error code E404\nnpm error 404 Not Found - GET https://registry.npmjs.org/no-such-pkg - Not found"],
  ])('classifies as permanent: %s', (_what, message) => {
    expect(classifyFailure({ now: NOW, exitCode: 1, message }).class).toBe('permanent');
  });

  it('searches the evidence (the log tail) while the message stays as given', () => {
    const evidence = `curl: (7) Failed to connect: Connection refused\n${'progress line\n'.repeat(100)}tool exited with 1`;
    const failure = classifyFailure({ now: NOW, exitCode: 1, message: 'tool exited with 1', evidence });
    expect(failure).toEqual({ class: 'transient', message: 'tool exited with 1' });
  });

  it('reads a Retry-After hint in seconds, milliseconds or as an HTTP date', () => {
    expect(retryAfterHintMs('429 Too Many Requests; Retry-After: 30', NOW)).toBe(30_000);
    expect(retryAfterHintMs('{"retry_after": 2.5}', NOW)).toBe(2500);
    expect(retryAfterHintMs('retry after 800ms', NOW)).toBe(800);
    expect(retryAfterHintMs('Retry-After: Mon, 23 Nov 2026 12:01:00 GMT', NOW)).toBe(60_000);
    expect(retryAfterHintMs('no hint here', NOW)).toBeUndefined();
  });

  it('takes the last Retry-After in a long tail and none from a help listing', () => {
    expect(retryAfterHintMs('HTTP 429 retry-after: 5\n… retried …\nHTTP 429 retry-after: 40', NOW)).toBe(40_000);
    expect(retryAfterHintMs('  --retry-after SECONDS  wait this long', NOW)).toBeUndefined();
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
