// The side panels of the overview: nodes, breakers, preflight, dead letters.

import { api } from './api.js';
import { age, badge, h, time } from './dom.js';

/**
 * A node that drained and exited is `drained`, not dead: the status API says so, and between two
 * status reads a heartbeat of the same incarnation saying `stopped` (or `draining`) is newer.
 */
function nodeState(node, lastBeat) {
  if (lastBeat && lastBeat.incarnation === node.incarnation && lastBeat.at >= node.lastSeenAt) {
    if (lastBeat.state === 'stopped') return 'drained';
    if (lastBeat.state === 'draining' && node.state === 'up') return 'draining';
  }
  return node.state;
}

export function renderNodes(el, nodes, beats) {
  if (!nodes.length) return el.replaceChildren(h('p', { class: 'muted' }, 'No node has run on this store.'));
  const rows = nodes.map((n) => {
    const beat = beats.get(n.id);
    const running = beat && beat.incarnation === n.incarnation && beat.state !== 'stopped' ? beat.running : n.running;
    const seen = beat && beat.incarnation === n.incarnation ? Math.max(beat.at, n.lastSeenAt) : n.lastSeenAt;
    const state = nodeState(n, beat);
    // A node run with --inspect says where its relay is; its bridge page (GET /inspect) is beside it.
    const relay = beat && beat.incarnation === n.incarnation && typeof beat.inspect === 'string' ? h('a', { class: 'small relay', href: beat.inspect.replace(/^ws/, 'http'), title: `XState inspector relay ${beat.inspect}` }, ' inspect') : '';
    return h('tr', { 'data-node': n.id }, h('td', { class: 'mono' }, n.id, relay), h('td', {}, badge(state === 'up' ? 'up' : state)), h('td', { class: 'num' }, `${state === 'drained' || state === 'dead' ? 0 : running}/${n.capacity}`), h('td', { class: 'muted', title: time(seen) }, `${age(seen)} ago`));
  });
  el.replaceChildren(h('table', { class: 'mini' }, h('thead', {}, h('tr', {}, h('th', {}, 'Node'), h('th', {}, 'State'), h('th', {}, 'Busy'), h('th', {}, 'Seen'))), h('tbody', {}, rows)));
}

export function renderBreakers(el, breakers) {
  if (!breakers.length) return el.replaceChildren(h('p', { class: 'muted' }, 'No breaker has tripped.'));
  const rows = breakers.map((b) =>
    h('tr', {}, h('td', { class: 'mono' }, b.key), h('td', {}, badge(b.state)), h('td', { class: 'muted' }, b.openUntil ? `until ${new Date(b.openUntil).toLocaleTimeString(undefined, { hour12: false })}` : '')),
  );
  el.replaceChildren(h('table', { class: 'mini' }, h('tbody', {}, rows)));
}

export function renderPreflight(el, preflight) {
  if (!preflight.length) return el.replaceChildren(h('p', { class: 'muted' }, 'No preflight checks configured.'));
  const rows = preflight.map((p) =>
    h('tr', {}, h('td', { class: 'mono' }, p.kind), h('td', {}, badge(p.ok ? 'ok' : 'failing')), h('td', { class: 'muted', title: time(p.checkedAt) }, p.ok ? `${age(p.checkedAt)} ago` : p.reason)),
  );
  el.replaceChildren(h('table', { class: 'mini' }, h('tbody', {}, rows)));
}

export function renderDeadLetters(el, letters) {
  if (!letters.length) return el.replaceChildren(h('p', { class: 'muted' }, 'None: every message was valid.'));
  const items = letters.map((d) => {
    const body = h('pre', { class: 'log', hidden: true });
    const open = async () => {
      if (!body.hidden) return (body.hidden = true);
      try {
        const full = await api(`/dead-letters/${encodeURIComponent(d.n)}`);
        body.textContent = full.body ?? full.payload ?? JSON.stringify(full, null, 2);
      } catch (err) {
        body.textContent = err.message;
      }
      body.hidden = false;
    };
    return h(
      'li',
      {},
      h('button', { type: 'button', class: 'link', onclick: open, title: 'show the whole message' }, `#${d.n}`),
      ' ',
      h('span', { class: 'code' }, d.code),
      ' ',
      h('span', { class: 'muted' }, `${d.source} · ${age(d.receivedAt)} ago`),
      h('div', { class: 'excerpt mono' }, d.reason),
      h('div', { class: 'excerpt mono muted' }, d.excerpt),
      body,
    );
  });
  el.replaceChildren(h('ul', { class: 'letters' }, items));
}
