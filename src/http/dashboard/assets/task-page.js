// One task: facts, the actions its state allows, attempts, progress, history, step outputs,
// compensations and the run log tail; re-read on each of its events and while it runs.

import { adoptToken, api, apiText, followEvents } from './api.js';
import { $, age, badge, duration, h, progressView, TERMINAL, time } from './dom.js';

adoptToken();
const id = decodeURIComponent(location.pathname.split('/').pop());
document.title = `${id} · Reeve`;
let task;

function showError(err) {
  const box = $('#error');
  box.hidden = !err;
  box.textContent = err ? `${err.code ? `${err.code}: ` : ''}${err.message}` : '';
}

/** What an operator may do in each state (the API refuses the rest with 409 anyway). */
function allowed(state) {
  return {
    approve: state === 'waiting',
    reject: state === 'waiting',
    cancel: ['queued', 'running', 'backoff', 'waiting'].includes(state),
    retry: ['failed', 'cancelled', 'quarantined'].includes(state),
  };
}

const FORMS = {
  approve: { label: 'Approve', fields: [['input', 'Input for the next step (JSON, optional)', 'textarea'], ['reason', 'Reason (optional)', 'input']], primary: true },
  reject: { label: 'Reject', fields: [['reason', 'Reason (required)', 'input'], ['goto', 'Go back to step (optional)', 'input']], danger: true },
  cancel: { label: 'Cancel task', fields: [['reason', 'Reason (optional)', 'input']], danger: true },
  retry: { label: 'Retry', fields: [['reason', 'Reason (optional)', 'input']], primary: true },
};

function renderActions() {
  const can = allowed(task.state);
  const buttons = Object.keys(FORMS)
    .filter((op) => can[op])
    .map((op) => h('button', { type: 'button', id: `do-${op}`, class: FORMS[op].danger ? 'danger' : FORMS[op].primary ? 'primary' : '', onclick: () => openForm(op) }, FORMS[op].label));
  $('#actions').replaceChildren(...buttons);
  if (!buttons.length) $('#decision').hidden = true;
}

function openForm(op) {
  const form = FORMS[op];
  const box = $('#decision');
  const inputs = form.fields.map(([name, label, tag]) => {
    const field = h(tag, { name, id: `f-${name}`, spellcheck: 'false', rows: tag === 'textarea' ? 4 : undefined });
    return { name, field, el: h('label', {}, label, field) };
  });
  const message = h('span', { class: 'muted', role: 'status' });
  const submit = async () => {
    const body = {};
    for (const { name, field } of inputs) {
      const value = field.value.trim();
      if (!value) continue;
      if (name === 'input') {
        try {
          body.input = JSON.parse(value);
        } catch (err) {
          message.textContent = `input is not JSON: ${err.message}`;
          return;
        }
      } else body[name] = value;
    }
    if (op === 'reject' && !body.reason) return (message.textContent = 'a rejection needs a reason');
    message.textContent = 'sending…';
    try {
      const { task: after } = await api(`/tasks/${encodeURIComponent(id)}/${op}`, body);
      box.hidden = true;
      showError();
      if (after) render(after);
      void refresh();
    } catch (err) {
      message.textContent = `${err.code}: ${err.message}`;
    }
  };
  box.replaceChildren(
    h('h3', {}, `${form.label} ${id}`),
    ...inputs.map((i) => i.el),
    h('div', { class: 'row' }, h('button', { type: 'button', id: `confirm-${op}`, class: form.danger ? 'danger' : 'primary', onclick: submit }, form.label), h('button', { type: 'button', onclick: () => (box.hidden = true) }, 'Close'), message),
  );
  box.hidden = false;
  inputs[0]?.field.focus();
}

function fact(label, value, title, wide = false) {
  return [h('div', { class: wide ? 'fact wide' : 'fact' }, h('dt', {}, label), h('dd', title ? { title } : {}, value))];
}

function render(t) {
  task = { ...task, ...t };
  t = task;
  $('#task-id').textContent = t.id;
  $('#task-state').replaceChildren(badge(t.state));
  $('#facts').replaceChildren(
    ...fact('Kind', t.kind),
    ...fact('Step', t.step ?? '–'),
    ...fact('Created', `${age(t.createdAt)} ago`, time(t.createdAt)),
    ...fact('Changed', `${age(t.updatedAt)} ago`, time(t.updatedAt)),
    // `node:incarnation`: the node is what an operator looks for; the whole owner is in the title.
    ...fact('Owner', t.owner ? t.owner.split(':')[0] : '–', t.owner),
    ...fact('Lease', t.leaseExpiresAt && !TERMINAL.has(t.state) ? `expires ${time(t.leaseExpiresAt)}` : '–'),
    ...fact('Priority', String(t.priority ?? 0)),
    ...fact('Breaker', t.breakerKey ?? t.kind),
    ...(t.error ? fact('Error', h('span', { class: 'error-text' }, `${t.error.class}${t.error.code ? ` ${t.error.code}` : ''}: ${t.error.message}`), undefined, true) : []),
    ...(t.result !== undefined ? fact('Result', h('code', {}, short(t.result)), undefined, true) : []),
  );
  renderActions();
  const a = t.attempts ?? {};
  $('#attempts').replaceChildren(h('div', { class: 'stats' }, ...['transient', 'permanent', 'crashes'].map((k) => h('div', { class: 'stat' }, h('span', { class: 'big' }, String(a[k] ?? 0)), h('span', { class: 'muted' }, k)))));
  renderProgress(t);
  renderHistory(t.history ?? []);
  renderOutputs(t);
  renderCompensations(t.compensations ?? []);
}

/** The last heartbeat's details; once the task is no longer in flight they are history, and say so. */
function renderProgress(t) {
  const done = TERMINAL.has(t.state);
  const when = t.heartbeatAt ? h('span', { class: 'muted small' }, done ? ` reported ${age(t.heartbeatAt)} ago, before it ended` : ` ${age(t.heartbeatAt)} ago`) : '';
  if (t.progress === undefined) return $('#progress').replaceChildren(h('span', { class: 'muted' }, t.state === 'running' ? 'no heartbeat details yet' : '–'), t.state === 'running' ? when : '');
  $('#progress').replaceChildren(h('span', { class: done ? 'faded' : '' }, progressView(t.progress)), when);
}

function short(value) {
  const text = JSON.stringify(value);
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

function renderHistory(history) {
  const rows = history.map((e, i) => {
    const spent = i > 0 ? duration(e.at - history[i - 1].at) : '';
    return h('tr', {}, h('td', { class: 'num muted', title: new Date(e.at).toISOString() }, time(e.at)), h('td', {}, e.from ? badge(e.from) : h('span', { class: 'muted' }, 'new')), h('td', {}, '→ ', badge(e.to)), h('td', { class: 'num muted' }, spent), h('td', {}, e.reason));
  });
  $('#history').replaceChildren(h('table', { class: 'mini history' }, h('thead', {}, h('tr', {}, h('th', {}, 'At'), h('th', {}, 'From'), h('th', {}, 'To'), h('th', {}, 'After'), h('th', {}, 'Reason'))), h('tbody', {}, rows.reverse())));
}

function outputBlock(title, text, extra = []) {
  return h('details', { open: true }, h('summary', {}, h('span', { class: 'mono' }, title), ...extra), h('pre', { class: 'json' }, text));
}

const json = (value) => JSON.stringify(value, null, 2) ?? 'undefined';

/**
 * One block per step of the record's `steps` ([{ name, visits, output? | outputExcerpt? }]):
 * its latest output (the record cuts one over 4 KiB to an excerpt), the step the task is at
 * marked with the task's state (unless it succeeded), and a step not entered yet as one line. A record without steps
 * (a task that has not run: no saga snapshot yet) shows its result if it has one.
 */
function renderOutputs(t) {
  const steps = Array.isArray(t.steps) ? t.steps.filter((s) => s && typeof s.name === 'string') : [];
  if (steps.length) {
    const blocks = steps.map((s) => {
      const extra = [
        s.name === t.step && s.visits > 0 && t.state !== 'succeeded' ? badge(t.state) : '',
        s.visits > 1 ? h('span', { class: 'muted small' }, `visit ${s.visits}`) : '',
        s.visits === 0 ? h('span', { class: 'muted small' }, 'not reached') : '',
        'outputExcerpt' in s ? h('span', { class: 'muted small' }, 'excerpt') : '',
      ];
      if ('output' in s) return outputBlock(s.name, json(s.output), extra);
      if ('outputExcerpt' in s) return outputBlock(s.name, String(s.outputExcerpt), extra);
      return h('div', { class: 'step-line' }, h('span', { class: 'mono' }, s.name), ...extra);
    });
    return $('#outputs').replaceChildren(...blocks);
  }
  if (t.result === undefined) return $('#outputs').replaceChildren(h('p', { class: 'muted' }, TERMINAL.has(t.state) ? `No result: the task ${t.state === 'succeeded' ? 'returned nothing' : 'did not succeed'}.` : 'No step has finished yet.'));
  $('#outputs').replaceChildren(outputBlock(t.step ? `${t.step} (latest result)` : 'result', json(t.result)));
}

function renderCompensations(list) {
  if (!list.length) return $('#compensations').replaceChildren(h('p', { class: 'muted' }, 'None ran.'));
  const rows = list.map((c) => h('tr', {}, h('td', { class: 'mono' }, c.step), h('td', {}, badge(c.status)), h('td', { class: 'muted' }, time(c.at)), h('td', {}, c.error ?? c.reason ?? '')));
  $('#compensations').replaceChildren(h('table', { class: 'mini' }, h('tbody', {}, rows)));
}

async function refreshLog() {
  try {
    const text = await apiText(`/tasks/${encodeURIComponent(id)}/log?bytes=16384`);
    const pre = $('#log');
    const atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.textContent = text || (task && TERMINAL.has(task.state) ? '(no output)' : '(no output yet)');
    pre.classList.toggle('empty-log', !text);
    if (atEnd) pre.scrollTop = pre.scrollHeight;
  } catch (err) {
    $('#log').textContent = err.status === 404 ? '(no run log)' : err.message;
  }
}

/** Never rejects (it shows what failed on the page), so callers fire it with `void`. */
async function refresh() {
  try {
    render(await api(`/tasks/${encodeURIComponent(id)}`));
    showError();
  } catch (err) {
    showError(err);
  }
  await refreshLog();
}

followEvents(
  (type, data) => {
    if (type === 'task' && data.id === id) void refresh();
  },
  (state, err) => {
    const live = $('#live');
    live.textContent = state === 'live' ? 'live' : 'reconnecting…';
    live.className = `live ${state}`;
    live.title = err ? err.message : '';
  },
  new AbortController().signal,
);
void refresh();
setInterval(() => {
  // Heartbeats (progress) and log lines send no event: re-read while the task is in flight.
  if (task && !TERMINAL.has(task.state) && task.state !== 'waiting') void refresh();
}, 2000);
