// The bridge page (GET /inspect): reads the node's inspection stream from its /inspect relay and
// posts each event to Stately's inspector in the frame, as @statelyai/inspect's
// createInspectorServer page does. Events that arrive before the inspector says it is ready wait
// in a bounded buffer (the relay sends the live actors first, so the newest are what matter).

import { adoptToken } from './api.js';

const INSPECTOR_ORIGIN = 'https://stately.ai';
const MAX_WAITING = 5000;

adoptToken();
const token = sessionStorage.getItem('reeve.token');
const frame = document.getElementById('inspector');
const status = document.getElementById('relay');
const waiting = [];
let ready = false;
let received = 0;

function show(text, state) {
  status.textContent = text;
  status.className = `live ${state}`;
}

addEventListener('message', (e) => {
  if (e.source !== frame.contentWindow || e.origin !== INSPECTOR_ORIGIN) return;
  if (e.data && e.data.type === '@statelyai.connected') {
    ready = true;
    for (const event of waiting.splice(0)) frame.contentWindow.postMessage(event, INSPECTOR_ORIGIN);
  }
});

function connect(delay = 1000) {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/inspect${token ? `?token=${encodeURIComponent(token)}` : ''}`;
  const ws = new WebSocket(url);
  ws.onopen = () => show('relay connected', 'live');
  ws.onmessage = (m) => {
    let event;
    try {
      event = JSON.parse(m.data);
    } catch {
      return;
    }
    received++;
    status.title = `${received} events received`;
    if (ready) frame.contentWindow.postMessage(event, INSPECTOR_ORIGIN);
    else {
      waiting.push(event);
      if (waiting.length > MAX_WAITING) waiting.shift();
    }
  };
  ws.onclose = () => {
    show('reconnecting…', 'reconnecting');
    setTimeout(() => connect(Math.min(delay * 2, 30000)), delay);
  };
}
connect();
