// A state machine's chart as inline SVG, drawn from its definition (the machine's config as
// GET /api/v1/machines/{name} gives it: the same JSON the XState inspector receives), offline:
// states in columns by distance from the initial state, transitions as arrows (event names in
// their tooltips), the current state filled, the states and transitions a task went through
// (from its history) traced.

const SVG = 'http://www.w3.org/2000/svg';
const NODE_W = 132;
const NODE_H = 34;
const COL_GAP = 96;
const ROW_GAP = 22;
const PAD = 28;

function el(tag, attrs = {}, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) node.setAttribute(k, String(v));
  for (const c of children) node.append(c);
  return node;
}

/** A transition's targets as sibling state keys (`running`, `.x`, `#machine.running` → `running`). */
function targetsOf(transition) {
  const list = Array.isArray(transition) ? transition : [transition];
  const out = [];
  for (const t of list) {
    const target = typeof t === 'string' ? t : t?.target;
    for (const one of Array.isArray(target) ? target : target === undefined ? [] : [target]) out.push(String(one).replace(/^#[^.]*\./, '').replace(/^\./, ''));
  }
  return out;
}

/** The chart's graph: states, and one edge per (from, to) with the events that take it. */
export function machineGraph(definition) {
  const states = Object.keys(definition.states ?? {});
  const edges = new Map();
  const add = (from, to, label) => {
    if (!states.includes(to)) return;
    const key = `${from}→${to}`;
    const edge = edges.get(key) ?? { from, to, events: [] };
    if (!edge.events.includes(label)) edge.events.push(label);
    edges.set(key, edge);
  };
  // `passes`: states with an `always` (they may move on at once); `transient`: states that only do.
  const passes = new Set();
  const transient = new Set();
  for (const [name, node] of Object.entries(definition.states ?? {})) {
    for (const [event, transition] of Object.entries(node.on ?? {})) for (const to of targetsOf(transition)) add(name, to, event);
    if (node.always) {
      passes.add(name);
      if (!node.on || Object.keys(node.on).length === 0) transient.add(name);
      for (const to of targetsOf(node.always)) add(name, to, '(always)');
    }
  }
  return { initial: definition.initial, states, edges: [...edges.values()], passes, transient };
}

/** Columns by breadth-first distance from the initial state; rows ordered by their predecessors. */
export function layoutGraph(graph) {
  const depth = new Map([[graph.initial, 0]]);
  const queue = [graph.initial];
  while (queue.length) {
    const at = queue.shift();
    for (const e of graph.edges) if (e.from === at && !depth.has(e.to)) {
      depth.set(e.to, depth.get(at) + 1);
      queue.push(e.to);
    }
  }
  let maxDepth = Math.max(0, ...depth.values());
  for (const s of graph.states) if (!depth.has(s)) depth.set(s, ++maxDepth);
  const columns = [];
  for (const s of graph.states) (columns[depth.get(s)] ??= []).push(s);
  const row = new Map();
  columns.forEach((col, c) => {
    if (c > 0) {
      // Barycentre of the predecessors' rows keeps arrows short and crossings few.
      const weight = (s) => {
        const from = graph.edges.filter((e) => e.to === s && depth.get(e.from) < c).map((e) => row.get(e.from));
        return from.length ? from.reduce((a, b) => a + b, 0) / from.length : 0;
      };
      col.sort((a, b) => weight(a) - weight(b));
    }
    col.forEach((s, i) => row.set(s, i));
  });
  const tallest = Math.max(...columns.map((c) => c.length));
  const positions = new Map();
  columns.forEach((col, c) => {
    const offset = ((tallest - col.length) * (NODE_H + ROW_GAP)) / 2;
    col.forEach((s, i) => positions.set(s, { x: PAD + c * (NODE_W + COL_GAP), y: PAD + offset + i * (NODE_H + ROW_GAP) }));
  });
  return { positions, width: PAD * 2 + columns.length * NODE_W + (columns.length - 1) * COL_GAP, height: PAD * 2 + tallest * NODE_H + (tallest - 1) * ROW_GAP };
}

/**
 * The transitions a task took, from its history (`from → to` per entry). A store transition
 * that passes through states the store never holds (`crashed`, `ending`: ones that move on at
 * once) is traced through them.
 */
export function pathTaken(graph, history) {
  const taken = new Set();
  const visited = new Set();
  for (const entry of history) {
    visited.add(entry.to);
    if (!entry.from) continue;
    visited.add(entry.from);
    for (const edge of route(graph, entry.from, entry.to)) {
      taken.add(`${edge.from}→${edge.to}`);
      visited.add(edge.to);
    }
  }
  return { taken, visited };
}

function route(graph, from, to) {
  const direct = graph.edges.find((e) => e.from === from && e.to === to);
  if (direct) return [direct];
  // Breadth-first through states that pass on by themselves (an `always`), at most a few hops.
  const queue = [[from, []]];
  const seen = new Set([from]);
  while (queue.length) {
    const [at, path] = queue.shift();
    for (const e of graph.edges.filter((x) => x.from === at && !seen.has(x.to))) {
      if (e.to === to) return [...path, e];
      if (graph.passes.has(e.to) && path.length < 4) {
        seen.add(e.to);
        queue.push([e.to, [...path, e]]);
      }
    }
  }
  return [];
}

function edgePath(a, b, self) {
  if (self) {
    const x = a.x + NODE_W / 2;
    return `M ${x - 14} ${a.y} C ${x - 30} ${a.y - 34}, ${x + 30} ${a.y - 34}, ${x + 14} ${a.y}`;
  }
  const forward = b.x > a.x;
  if (forward) {
    const [x1, y1, x2, y2] = [a.x + NODE_W, a.y + NODE_H / 2, b.x, b.y + NODE_H / 2];
    const dx = (x2 - x1) / 2;
    return `M ${x1} ${y1} C ${x1 + dx} ${y1}, ${x2 - dx} ${y2}, ${x2} ${y2}`;
  }
  if (b.x === a.x) {
    // Same column: an arc out to the right.
    const [x, y1, y2] = [a.x + NODE_W, a.y + NODE_H / 2, b.y + NODE_H / 2];
    const bulge = 26 + Math.abs(y2 - y1) / 6;
    return `M ${x} ${y1} C ${x + bulge} ${y1}, ${x + bulge} ${y2}, ${x} ${y2}`;
  }
  // Backwards: under the way forward, from the bottom of the source to the bottom of the target.
  const [x1, y1, x2, y2] = [a.x + NODE_W / 2 - 10, a.y + NODE_H, b.x + NODE_W / 2 + 10, b.y + NODE_H];
  const drop = 24 + Math.abs(x1 - x2) / 10;
  return `M ${x1} ${y1} C ${x1} ${Math.max(y1, y2) + drop}, ${x2} ${Math.max(y1, y2) + drop}, ${x2} ${y2}`;
}

/**
 * The chart as an <svg>. `current`: the state to fill; `history`: the task's history entries;
 * `terminal`: states drawn with a double border (where a task ends).
 * Each state is a `g.state[data-state]` with class `current` / `visited`; each transition a
 * `path.edge[data-from][data-to]` with class `taken` when the task went that way.
 */
export function drawMachine(definition, { current, history = [], terminal = new Set() } = {}) {
  const graph = machineGraph(definition);
  const { positions, width, height } = layoutGraph(graph);
  const { taken, visited } = pathTaken(graph, history);
  if (current) visited.add(current);
  const svg = el('svg', { class: 'machine', viewBox: `0 0 ${width} ${height + 30}`, width, height: height + 30, role: 'img', 'aria-label': `state chart of ${definition.id ?? 'the machine'}` });
  svg.append(
    el('defs', {}, ...['plain', 'taken'].map((kind) => el('marker', { id: `arrow-${kind}`, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' }, el('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: `arrow-${kind}` })))),
  );
  const edges = el('g', { class: 'edges' });
  // Taken transitions last, so they are drawn over the others.
  for (const e of [...graph.edges].sort((a, b) => Number(taken.has(`${a.from}→${a.to}`)) - Number(taken.has(`${b.from}→${b.to}`)))) {
    const on = taken.has(`${e.from}→${e.to}`);
    const [a, b] = [positions.get(e.from), positions.get(e.to)];
    // Transitions back towards the start (retries, re-queues, reopens) are drawn fainter.
    const back = b.x < a.x;
    const path = el('path', { d: edgePath(a, b, e.from === e.to), class: ['edge', on ? 'taken' : '', back ? 'back' : ''].filter(Boolean).join(' '), 'data-from': e.from, 'data-to': e.to, 'marker-end': `url(#arrow-${on ? 'taken' : 'plain'})` });
    path.append(el('title', {}, `${e.from} → ${e.to}: ${e.events.join(', ')}`));
    edges.append(path);
  }
  svg.append(edges);
  const nodes = el('g', { class: 'states' });
  for (const s of graph.states) {
    const { x, y } = positions.get(s);
    const classes = ['state', s === current ? 'current' : visited.has(s) ? 'visited' : '', graph.transient.has(s) ? 'transient' : '', terminal.has(s) ? 'final' : ''].filter(Boolean).join(' ');
    const g = el('g', { class: classes, 'data-state': s });
    g.append(el('rect', { x, y, width: NODE_W, height: NODE_H, rx: 9 }));
    if (terminal.has(s)) g.append(el('rect', { x: x + 3, y: y + 3, width: NODE_W - 6, height: NODE_H - 6, rx: 7, class: 'inner' }));
    g.append(el('text', { x: x + NODE_W / 2, y: y + NODE_H / 2 + 4.5, 'text-anchor': 'middle' }, s));
    if (s === graph.initial) g.append(el('path', { d: `M ${x - 22} ${y + NODE_H / 2} L ${x - 2} ${y + NODE_H / 2}`, class: 'edge initial', 'marker-end': 'url(#arrow-plain)' }));
    g.append(el('title', {}, `${s}${graph.transient.has(s) ? ' (moves on by itself)' : ''}${terminal.has(s) ? ' (terminal)' : ''}`));
    nodes.append(g);
  }
  svg.append(nodes);
  return svg;
}
