// Small DOM and formatting helpers. Text always goes in as textContent, never as HTML, so task
// data (ids, reasons, outputs) cannot inject markup.

/** `h('td', { class: 'x', title: 'y' }, 'text', child…)`; `on*` attributes become listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export function $(selector) {
  return document.querySelector(selector);
}

/** "4s", "3m", "2h", "5d": how long ago `at` was. */
export function age(at, now = Date.now()) {
  if (at === undefined || at === null) return '–';
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function time(at) {
  if (at === undefined || at === null) return '–';
  const d = new Date(at);
  const p = (n) => String(n).padStart(2, '0');
  const today = new Date().toDateString() === d.toDateString();
  const clock = `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  return today ? clock : `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${clock}`;
}

/** Milliseconds as "850 ms", "12.3 s", "4.0 min". */
export function duration(ms) {
  if (!Number.isFinite(ms)) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60000).toFixed(1)} min`;
}

/** A state as a coloured badge. */
export function badge(state) {
  return h('span', { class: `badge s-${state}` }, state);
}

/** Heartbeat details in a few characters: a percentage as a bar, anything else as short JSON. */
export function progressView(progress) {
  if (progress === undefined || progress === null) return '';
  const pct = typeof progress === 'number' ? progress : typeof progress === 'object' ? (progress.pct ?? progress.percent) : undefined;
  if (typeof pct === 'number' && pct >= 0 && pct <= 100) {
    const fill = h('span', { class: 'bar-fill' });
    fill.style.width = `${pct}%`;
    return h('span', { class: 'bar', title: JSON.stringify(progress) }, fill, h('span', { class: 'bar-label' }, `${Math.round(pct)}%`));
  }
  const text = typeof progress === 'string' ? progress : JSON.stringify(progress);
  return h('span', { class: 'muted', title: text }, text.length > 40 ? `${text.slice(0, 39)}…` : text);
}

/** Attempts as "t1 p0 c0", failed attempts by class. */
export function attemptsText(a) {
  if (!a) return '–';
  return `${a.transient}/${a.permanent}/${a.crashes}`;
}

export const TERMINAL = new Set(['succeeded', 'failed', 'cancelled', 'quarantined']);
export const STATES = ['queued', 'running', 'backoff', 'waiting', 'cancelling', 'compensating', 'succeeded', 'failed', 'cancelled', 'quarantined'];
