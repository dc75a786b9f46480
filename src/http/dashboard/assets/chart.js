// Throughput (tasks finished per minute) and queue wait (queued → running) over the last 30
// minutes, from the task events this page sees and the histories of the tasks it loads.

import { duration, TERMINAL } from './dom.js';

const MINUTES = 30;
const MINUTE = 60000;
const SVG = 'http://www.w3.org/2000/svg';

export function createCharts(throughputSvg, waitSvg) {
  const finished = new Map(); // minute → count
  const waits = new Map(); // minute → [ms…]
  const queuedAt = new Map(); // task id → when it last became queued
  const seen = new Set(); // `${id}:${at}:${to}`: a transition counted once, from a history or an event
  let pending = false;

  function transition(id, to, at) {
    const key = `${id}:${at}:${to}`;
    if (seen.has(key)) return;
    seen.add(key);
    if (seen.size > 50000) seen.clear();
    const minute = Math.floor(at / MINUTE);
    if (TERMINAL.has(to)) finished.set(minute, (finished.get(minute) ?? 0) + 1);
    if (to === 'queued') queuedAt.set(id, at);
    else if (to === 'running' && queuedAt.has(id)) {
      const list = waits.get(minute) ?? [];
      list.push(Math.max(0, at - queuedAt.get(id)));
      waits.set(minute, list);
      queuedAt.delete(id);
    }
    if (queuedAt.size > 20000) queuedAt.clear();
    schedule();
  }

  function schedule() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      draw();
    });
  }

  function draw() {
    const now = Math.floor(Date.now() / MINUTE);
    const minutes = Array.from({ length: MINUTES }, (_, i) => now - MINUTES + 1 + i);
    for (const m of [...finished.keys()]) if (m < minutes[0]) finished.delete(m);
    for (const m of [...waits.keys()]) if (m < minutes[0]) waits.delete(m);
    const counts = minutes.map((m) => finished.get(m) ?? 0);
    const total = counts.reduce((a, b) => a + b, 0);
    bars(throughputSvg, counts, (v) => `${v}/min`, `${total} finished · ${counts[MINUTES - 1]} this minute · peak ${Math.max(...counts)}/min`);
    const all = minutes.flatMap((m) => waits.get(m) ?? []).sort((a, b) => a - b);
    const means = minutes.map((m) => {
      const list = waits.get(m);
      return list ? list.reduce((a, b) => a + b, 0) / list.length : 0;
    });
    const p50 = all.length ? all[Math.floor(all.length / 2)] : NaN;
    const p95 = all.length ? all[Math.min(all.length - 1, Math.floor(all.length * 0.95))] : NaN;
    bars(waitSvg, means, duration, all.length ? `p50 ${duration(p50)} · p95 ${duration(p95)} · ${all.length} starts (bars: mean per minute)` : 'no starts seen yet');
  }

  return {
    /** A `task` event from the stream. */
    event(e) {
      transition(e.id, e.state, e.at);
    },
    /** A record's history (the tasks the table loads). */
    history(record) {
      for (const h of record.history ?? []) transition(record.id, h.to, h.at);
    },
    draw,
  };
}

/** Bars for 30 values in a 300×80 viewBox, a caption at the top left, each bar titled. */
function bars(svg, values, label, caption) {
  const max = Math.max(1, ...values);
  const children = [];
  const width = 300 / values.length;
  values.forEach((v, i) => {
    if (v <= 0) return;
    const height = Math.max(1.5, (v / max) * 58);
    const rect = document.createElementNS(SVG, 'rect');
    rect.setAttribute('x', String(i * width + 1));
    rect.setAttribute('y', String(80 - height));
    rect.setAttribute('width', String(width - 2));
    rect.setAttribute('height', String(height));
    rect.setAttribute('class', 'chart-bar');
    const title = document.createElementNS(SVG, 'title');
    title.textContent = `${MINUTES - 1 - i} min ago: ${label(v)}`;
    rect.append(title);
    children.push(rect);
  });
  const axis = document.createElementNS(SVG, 'line');
  axis.setAttribute('x1', '0');
  axis.setAttribute('x2', '300');
  axis.setAttribute('y1', '79.5');
  axis.setAttribute('y2', '79.5');
  axis.setAttribute('class', 'chart-axis');
  const text = document.createElementNS(SVG, 'text');
  text.setAttribute('x', '2');
  text.setAttribute('y', '11');
  text.setAttribute('class', 'chart-caption');
  text.textContent = caption;
  svg.replaceChildren(axis, ...children, text);
}
