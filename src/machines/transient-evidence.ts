/**
 * Whether a failure's text (an error message, or the last 16 KiB of a command's output) shows a
 * transient cause: a provider overloaded or rate-limiting, a gateway error, a network or DNS
 * hiccup, a timeout on the wire. Pure.
 *
 * The text is read line by line (no pattern spans lines), and three rules keep ordinary output
 * from reading as an outage, since a false "transient" burns the retry budget and the breaker on
 * a failure that will never heal:
 * 1. Option names are not evidence: `--connect-timeout`, `--retry-on-rate-limit` are removed
 *    before matching, and a line that starts with an option (a help listing) is skipped.
 * 2. A usage or argument error (`usage:`, `unknown option`, `invalid value`, `option … requires`)
 *    is permanent whatever words it holds, so its line is skipped.
 * 3. A test runner's per-test timeout (`Test timed out in 5000ms`, `Exceeded timeout of 5000 ms
 *    for a test`) is a failing test, not a slow network: its line is skipped.
 * And a bare "timeout" (a variable, a config key, a word in a prompt) is not evidence: only a
 * timeout phrased as an error is ("timed out", "read timeout", "timeout exceeded", TimeoutError,
 * "deadline exceeded"). An HTTP status number counts only next to a word that makes it one
 * (`HTTP 503`, `status: 429`, `error 502`, `API Error: 529`, `E503`), never as a line number.
 */

/** Matched against each line, with options removed. */
const TRANSIENT: readonly RegExp[] = [
  // HTTP statuses, only where a word says they are one.
  // The separator admits `status=503` (logfmt) but not `status == 503` (source code).
  /\b(?:https?|status(?:[ _-]?code)?|code|error|response|returned)(?:[\s:"'([{]|=(?!=)){0,4}(?:429|502|503|504|529)\b/i,
  /\bHTTP\/\d(?:\.\d)?\s+(?:429|502|503|504|529)\b/i,
  /\bE(?:429|502|503|504|529)\b/,
  /too many requests/i,
  /rate[ _-]?limit/i,
  /overloaded/i,
  /service unavailable/i,
  /temporarily unavailable/i,
  /temporary failure/i,
  /bad gateway/i,
  /\bquota\b/i,
  /\btry again\b/i,
  /\bRESOURCE_EXHAUSTED\b/,
  // The network.
  /connection (?:reset|refused|aborted|timed out)/i,
  /socket hang up/i,
  /network is unreachable/i,
  /\b(?:ECONNRESET|ECONNREFUSED|ECONNABORTED|ETIMEDOUT|EPIPE|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH)\b/,
  // Timeouts phrased as an error.
  /\btimed[ -]?out\b/i,
  /\b(?:request|connection|connect|read|write|socket|operation|network|gateway|upstream|response|handshake|idle|proxy|server)[ _-]?time-?out(?:error|exception)?\b/i,
  /\btime-?out[ _-]?(?:error|exception)\b/i,
  /\btime-?out\W{0,3}(?:exceeded|expired|elapsed|occurred|was reached|reached)\b/i,
  /\btimeout of \d+ ?m?s exceeded\b/i,
  /\bdeadline[ _]exceeded\b/i,
];

/** Lines that are permanent whatever they mention: usage and argument errors. */
const USAGE_ERROR =
  /\busage:|\b(?:unknown|unrecognized|unrecognised|invalid|illegal|unexpected|unsupported|missing|bad)\s+(?:\w+\s+)?(?:option|flag|argument|parameter|value|command|switch)s?\b|\b(?:option|argument|flag)\s+\S+\s+(?:requires|argument missing|is required|expects)\b/i;
/** Lines where a test runner reports a test that ran too long. */
const TEST_TIMEOUT = /\btests? timed out\b|\bfor (?:a|this) (?:test|hook)\b|\bfor async tests\b|\btest ?timeout\b/i;
/** A line that starts with an option: a help listing (`  -m, --max-time <secs>  …`). */
const OPTION_LISTING = /^\s*--?[A-Za-z]/;
/** An option token, removed before matching (`--connect-timeout`, `-timeout=5`). */
const OPTION_TOKEN = /(?<![\w-])--?[A-Za-z][\w-]*(?:=\S*)?/g;

/**
 * The lines of `text` that may count as evidence of a transient cause, options removed:
 * help listings, usage errors and test-runner timeouts are left out.
 */
export function evidenceLines(text: string): string[] {
  const lines: string[] = [];
  for (const line of text.split('\n')) {
    if (OPTION_LISTING.test(line) || USAGE_ERROR.test(line) || TEST_TIMEOUT.test(line)) continue;
    lines.push(line.replace(OPTION_TOKEN, ' '));
  }
  return lines;
}

/** Whether any evidence line of `text` matches a built-in transient pattern. */
export function showsTransientCause(text: string): boolean {
  return evidenceLines(text).some((line) => TRANSIENT.some((re) => re.test(line)));
}
