// The overview page: counts, a filtered task table paged by the server's cursor and patched live
// from the event stream, the side panels and the charts.

import { adoptToken, api, followEvents } from './api.js';
import { createCharts } from './chart.js';
import { $, age, attemptsText, badge, h, progressView, STATES, TERMINAL, time } from './dom.js';
import { renderBreakers, renderDeadLetters, renderNodes, renderPreflight } from './panels.js';

const PAGE_SIZE = 50;
/** A burst of events (10,000 tasks finishing) costs at most one page read per this long. */
const REFRESH_GAP_MS = 1000;

adoptToken();
const params = new URLSearchParams(location.search);
const view = {
  state: params.get('state') ?? '',
  kind: params.get('kind') ?? '',
  cursors: [undefined], // the cursor of each page visited; the last is the current page
  next: undefined,
  rows: new Map(), // id → { record, tr }
  counts: {},
  beats: new Map(), // node id → last heartbeat event
  status: undefined,
  kinds: new Set(),
};
const charts = createCharts($('#chart-throughput'), $('#chart-wait'));

function showError(err) {
  const box = $('#error');
  box.hidden = !err;
  box.textContent = err ? `${err.code ? `${err.code}: ` : ''}${err.message}` : '';
}

// ---- the table ----

function row(record) {
  const tr = h('tr', { 'data-id': record.id, 'data-state': record.state, onclick: (e) => e.target.closest('a') || (location.href = `/tasks/${encodeURIComponent(record.id)}`) });
  fillRow(tr, record);
  return tr;
}

function fillRow(tr, r) {
  tr.dataset.state = r.state;
  tr.replaceChildren(
    h('td', { class: 'mono id' }, h('a', { href: `/tasks/${encodeURIComponent(r.id)}` }, r.id)),
    h('td', {}, r.kind),
    h('td', { class: 'state' }, badge(r.state)),
    h('td', { class: 'muted' }, r.step ?? ''),
    h('td', { class: 'num', title: `transient ${r.attempts?.transient} · permanent ${r.attempts?.permanent} · crashes ${r.attempts?.crashes}` }, attemptsText(r.attempts)),
    h('td', { class: 'num age', title: time(r.createdAt), 'data-at': r.createdAt }, age(r.createdAt)),
    h('td', { class: 'num age', title: time(r.updatedAt), 'data-at': r.updatedAt }, age(r.updatedAt)),
    h('td', {}, progressCell(r)),
  );
}

/** Heartbeat progress while the task is in flight; a finished task's last progress is history. */
function progressCell(r) {
  if (TERMINAL.has(r.state) || r.state === 'queued') return '';
  if (r.progress !== undefined) return progressView(r.progress);
  return r.state === 'running' && r.heartbeatAt ? h('span', { class: 'muted small' }, `beat ${age(r.heartbeatAt)} ago`) : '';
}

function renderTable(tasks) {
  const body = $('#tasks tbody');
  view.rows.clear();
  const trs = tasks.map((record) => {
    const tr = row(record);
    view.rows.set(record.id, { record, tr });
    view.kinds.add(record.kind);
    charts.history(record);
    return tr;
  });
  body.replaceChildren(...trs);
  $('#empty').hidden = tasks.length > 0;
  const page = view.cursors.length;
  $('#page-info').textContent = tasks.length ? `page ${page} · ${(page - 1) * PAGE_SIZE + 1}–${(page - 1) * PAGE_SIZE + tasks.length}` : '';
  $('#prev').disabled = page <= 1;
  $('#next').disabled = !view.next;
  renderKinds();
}

let loading;
let again = false;
let lastLoad = 0;
let timer;

/**
 * Reads the current page; calls made meanwhile fold into one more read after it. Never rejects
 * (a failed read is shown on the page), so callers fire it with `void`.
 */
async function load() {
  if (loading) {
    again = true;
    return loading;
  }
  const q = new URLSearchParams({ limit: String(PAGE_SIZE) });
  if (view.state) q.set('state', view.state);
  if (view.kind) q.set('kind', view.kind);
  const cursor = view.cursors[view.cursors.length - 1];
  if (cursor) q.set('cursor', cursor);
  loading = api(`/tasks?${q}`)
    .then((page) => {
      view.next = page.next;
      renderTable(page.tasks);
      showError();
    })
    .catch(showError)
    .finally(() => {
      loading = undefined;
      lastLoad = Date.now();
      if (again) {
        again = false;
        refreshSoon();
      }
    });
  return loading;
}

function refreshSoon() {
  if (timer) return;
  timer = setTimeout(() => {
    timer = undefined;
    void load();
  }, Math.max(50, REFRESH_GAP_MS - (Date.now() - lastLoad)));
}

function matches(e) {
  return (!view.state || e.state === view.state) && (!view.kind || e.kind === view.kind);
}

function onTask(e) {
  charts.event(e);
  view.kinds.add(e.kind);
  if (e.from) view.counts[e.from] = Math.max(0, (view.counts[e.from] ?? 0) - 1);
  view.counts[e.state] = (view.counts[e.state] ?? 0) + 1;
  renderCounts();
  const shown = view.rows.get(e.id);
  if (shown) {
    // Patched at once; the step and progress come with the next page read.
    Object.assign(shown.record, { state: e.state, attempts: e.attempts, updatedAt: e.at, ...(e.error ? { error: e.error } : {}) });
    fillRow(shown.tr, shown.record);
    // A fresh animation each time: removing the class and adding it back in one frame would not restart it.
    shown.tr.getAnimations().forEach((a) => a.cancel());
    shown.tr.classList.remove('flash');
    requestAnimationFrame(() => shown.tr.classList.add('flash'));
    if (!matches(e)) refreshSoon();
  } else if (view.cursors.length === 1 && matches(e)) {
    refreshSoon(); // a task new to this page: it belongs at the top
  }
}

// ---- counts and filters ----

function renderCounts() {
  const total = Object.values(view.counts).reduce((a, b) => a + b, 0);
  const chip = (state, n, label) =>
    h('button', { type: 'button', class: `chip${view.state === state ? ' active' : ''}`, 'data-state': state || 'all', onclick: () => setFilter({ state }) }, state ? badge(state) : label, h('span', { class: 'n' }, String(n)));
  $('#counts').replaceChildren(chip('', total, 'all'), ...STATES.filter((s) => view.counts[s]).map((s) => chip(s, view.counts[s])));
}

function renderKinds() {
  $('#kinds').replaceChildren(...[...view.kinds].sort((a, b) => a.localeCompare(b)).map((k) => h('option', { value: k })));
}

function setFilter(change) {
  Object.assign(view, change);
  $('#f-state').value = view.state;
  $('#f-kind').value = view.kind;
  view.cursors = [undefined];
  const q = new URLSearchParams();
  if (view.state) q.set('state', view.state);
  if (view.kind) q.set('kind', view.kind);
  history.replaceState(null, '', q.size ? `/?${q}` : '/');
  renderCounts();
  void load();
}

// ---- status and dead letters ----

/** Never rejects (a failed read is shown on the page), so callers fire it with `void`. */
async function loadStatus() {
  try {
    const status = await api('/status');
    view.status = status;
    view.counts = { ...status.counts };
    $('#mode').textContent = `${status.mode} · ${status.nodes.filter((n) => n.state === 'up' || n.state === 'draining').length} node(s) live`;
    for (const p of status.preflight) view.kinds.add(p.kind);
    renderCounts();
    renderNodes($('#nodes'), status.nodes, view.beats);
    renderBreakers($('#breakers'), status.breakers);
    renderPreflight($('#preflight'), status.preflight);
  } catch (err) {
    showError(err);
  }
}

async function loadDeadLetters() {
  try {
    renderDeadLetters($('#dead-letters'), (await api('/dead-letters?limit=10')).deadLetters);
  } catch (err) {
    $('#dead-letters').replaceChildren(h('p', { class: 'muted' }, err.message));
  }
}

function onEvent(type, data) {
  if (type === 'task') onTask(data);
  else if (type === 'node') {
    view.beats.set(data.id, data);
    if (view.status) renderNodes($('#nodes'), view.status.nodes, view.beats);
  } else if (type === 'breaker') void loadStatus();
}

function start() {
  const select = $('#f-state');
  select.append(...STATES.map((s) => h('option', { value: s }, s)));
  select.value = view.state;
  $('#f-kind').value = view.kind;
  select.addEventListener('change', () => setFilter({ state: select.value }));
  let typing;
  $('#f-kind').addEventListener('input', (e) => {
    clearTimeout(typing);
    typing = setTimeout(() => setFilter({ kind: e.target.value.trim() }), 250);
  });
  $('#next').addEventListener('click', () => {
    if (!view.next) return;
    view.cursors.push(view.next);
    void load();
  });
  $('#prev').addEventListener('click', () => {
    if (view.cursors.length > 1) view.cursors.pop();
    void load();
  });
  followEvents(onEvent, (state, err) => {
    const live = $('#live');
    live.textContent = state === 'live' ? 'live' : 'reconnecting…';
    live.className = `live ${state}`;
    live.title = err ? err.message : '';
    if (state === 'live') void load(); // whatever changed while the stream was down
  }, new AbortController().signal);
  void load();
  void loadStatus();
  void loadDeadLetters();
  setInterval(() => void loadStatus(), 5000); // each logs and shows its own failure
  setInterval(() => void loadDeadLetters(), 15000);
  setInterval(() => {
    // Progress comes from heartbeats, which send no event: re-read while something runs.
    if ([...view.rows.values()].some((r) => r.record.state === 'running')) void load();
    for (const cell of document.querySelectorAll('td.age')) cell.textContent = age(Number(cell.dataset.at));
    charts.draw();
  }, 3000);
}

start();
