// The dashboard's one way to the node: every call carries the bearer token, the event stream too
// (read with fetch, since EventSource cannot send an Authorization header).

const TOKEN_KEY = 'reeve.token';

/** Takes `#token=…` out of the address (so it is not copied along with the URL) into sessionStorage. */
export function adoptToken() {
  const match = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (match) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
    history.replaceState(null, '', location.pathname + location.search);
    return true;
  }
  return false;
}

// A dashboard URL pasted into a tab that shows the page already only changes the fragment: the
// page does not load again by itself, so take the token and start over with it.
addEventListener('hashchange', () => {
  if (adoptToken()) location.reload();
});

function headers(extra) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return { Accept: 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}), ...extra };
}

/** An API error in the contract's shape `{ error: { code, message } }`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function failure(res) {
  let code = `HTTP_${res.status}`;
  let message = res.statusText || 'request failed';
  try {
    const body = await res.json();
    if (body && body.error) ({ code, message } = body.error);
  } catch {
    // not JSON: keep the status line
  }
  if (res.status === 401 || res.status === 403) message += ' — open the dashboard URL the node printed (it carries the token)';
  return new ApiError(res.status, code, message);
}

/** GET (or POST with `body`) a JSON endpoint under /api/v1. */
export async function api(path, body) {
  const init = body === undefined ? { headers: headers() } : { method: 'POST', headers: headers({ 'Content-Type': 'application/json' }), body: JSON.stringify(body) };
  const res = await fetch(`/api/v1${path}`, init);
  if (!res.ok) throw await failure(res);
  return res.json();
}

/** GET a text endpoint (the run log tail). */
export async function apiText(path) {
  const res = await fetch(`/api/v1${path}`, { headers: headers({ Accept: 'text/plain' }) });
  if (!res.ok) throw await failure(res);
  return res.text();
}

/**
 * Follows `/api/v1/events` until `signal` aborts, reconnecting with a growing pause (1 s → 15 s).
 * `onEvent(type, data)` gets each event; `onState('live' | 'reconnecting', error?)` the connection.
 */
export function followEvents(onEvent, onState, signal) {
  let pause = 1000;
  const run = async () => {
    while (!signal.aborted) {
      try {
        const res = await fetch('/api/v1/events', { headers: headers({ Accept: 'text/event-stream' }), signal, cache: 'no-store' });
        if (!res.ok || !res.body) throw await failure(res);
        onState('live');
        pause = 1000;
        await readStream(res.body, onEvent);
        onState('reconnecting');
      } catch (err) {
        if (signal.aborted) return;
        onState('reconnecting', err);
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(15000, pause * 2);
    }
  };
  void run();
}

async function readStream(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.search(/\r?\n\r?\n/)) >= 0) {
      dispatch(buffer.slice(0, end), onEvent);
      buffer = buffer.slice(end).replace(/^\r?\n\r?\n/, '');
    }
  }
}

/** One SSE block: `event:` and `data:` lines (comments and ids ignored). */
function dispatch(block, onEvent) {
  let type = 'message';
  const data = [];
  for (const line of block.split(/\r?\n/)) {
    if (line.startsWith('event:')) type = line.slice(6).trim();
    else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
  }
  if (data.length === 0) return;
  try {
    onEvent(type, JSON.parse(data.join('\n')));
  } catch {
    // a malformed event is skipped; the next page refresh shows the truth
  }
}
