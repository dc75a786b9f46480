// The task page's state chart: the saga machine drawn from its definition (saga-chart.js) with
// the task's state and path, and the serving node's supervision tree with restart counts beside
// it. A module of its own, hooked into task.html by one <section> and one <script>; it follows
// the task like the page does (its events, and a re-read while the task is in flight).

import { adoptToken, api, followEvents } from './api.js';
import { $, badge, h, TERMINAL } from './dom.js';
import { drawMachine } from './saga-chart.js';

adoptToken();
const id = decodeURIComponent(location.pathname.split('/').pop());
let definition;
let last = '';

function treeList(children, depth = 0) {
  return h(
    'ul',
    { class: depth === 0 ? 'tree' : 'tree nested' },
    ...children.map((c) => {
      const tasks = (c.children ?? []).filter((x) => x.id.startsWith('task:'));
      const others = (c.children ?? []).filter((x) => !x.id.startsWith('task:'));
      const mine = tasks.some((x) => x.id.startsWith(`task:${id}:`));
      return h(
        'li',
        { 'data-child': c.id },
        h('span', { class: 'mono' }, c.id),
        ' ',
        badge(c.status),
        c.restarts > 0 ? h('span', { class: 'restarts', title: `${c.restarts} restarts, ${c.crashes} crashes` }, ` ↻ ${c.restarts}`) : '',
        c.crashes > c.restarts ? h('span', { class: 'muted small' }, ` (${c.crashes} crashes)`) : '',
        tasks.length ? h('span', { class: 'muted small' }, ` ${tasks.length} saga${tasks.length === 1 ? '' : 's'} in flight${mine ? ', this task among them' : ''}`) : '',
        others.length ? treeList(others, depth + 1) : '',
      );
    }),
  );
}

/** Never rejects (a failure is shown in place of the chart), so callers fire it with `void`. */
async function render() {
  try {
    definition ??= (await api('/machines/taskSaga')).definition;
    const [task, supervision] = await Promise.all([api(`/tasks/${encodeURIComponent(id)}`), api('/supervision').catch(() => undefined)]);
    // Redrawn only when something it shows changed (the page re-reads every 2 s in flight).
    const key = JSON.stringify([task.state, task.history?.length, supervision]);
    if (key === last) return task;
    last = key;
    $('#saga-chart').replaceChildren(drawMachine(definition, { current: task.state, history: task.history ?? [], terminal: TERMINAL }));
    $('#supervision').replaceChildren(
      h('div', { class: 'tree-root' }, h('span', { class: 'mono' }, 'root'), ' ', h('span', { class: 'muted small' }, 'supervisor of the node serving this page')),
      supervision ? treeList(supervision.root.children) : h('p', { class: 'muted' }, 'not available'),
    );
    return task;
  } catch (err) {
    $('#saga-chart').replaceChildren(h('p', { class: 'muted' }, `state chart unavailable: ${err.message}`));
    return undefined;
  }
}

let task = await render();
followEvents(
  (type, data) => {
    if (type === 'task' && data.id === id) void render().then((t) => (task = t ?? task));
  },
  () => {},
  new AbortController().signal,
);
setInterval(() => {
  if (!task || !TERMINAL.has(task.state)) void render().then((t) => (task = t ?? task));
}, 2000);
