#!/usr/bin/env node
// A webhook receiver for Reeve's notifications: checks the X-Reeve-Signature HMAC of each
// request (docs/notifications.md), drops duplicates by notification id (delivery is at least
// once) and prints one line per notification.
//   PORT=8787 WEBHOOK_SECRET=demo-webhook-secret node webhook-receiver.mjs
// PORT=0 takes a free port; the first line printed says which.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';

const port = Number(process.env.PORT ?? 8787);
const secret = process.env.WEBHOOK_SECRET ?? 'demo-webhook-secret';
const seen = new Set();

function signatureOk(raw, header) {
  const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
  const got = Buffer.from(String(header ?? ''));
  return got.length === expected.length && timingSafeEqual(got, expected);
}

function describe(n) {
  const t = n.task;
  if (t) return `task ${t.id} (${t.kind}) ${t.state}${t.step ? ` at step ${t.step}` : ''}${t.error && (t.state === 'failed' || t.state === 'quarantined') ? `: ${t.error.message.split('\n')[0]}` : ''}`;
  if (n.breaker) return `breaker ${n.breaker.key} ${n.breaker.state}`;
  return JSON.stringify(n);
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', () => {
    // Sign and check the raw bytes, before any JSON parsing.
    const raw = Buffer.concat(chunks);
    const time = new Date().toISOString().slice(11, 19);
    if (!signatureOk(raw, req.headers['x-reeve-signature'])) {
      console.log(`${time}  REJECTED  bad or missing X-Reeve-Signature (is WEBHOOK_SECRET the webhook's secret?)`);
      return void res.writeHead(401).end();
    }
    const n = JSON.parse(raw.toString('utf8'));
    res.writeHead(204).end();
    if (seen.has(n.id)) return void console.log(`${time}  duplicate ${n.id} ignored`);
    seen.add(n.id);
    console.log(`${time}  ${n.event}  ${describe(n)}  [${n.id}, signature ok]`);
    if (n.event === 'task.waiting') console.log(`          decide: npx reeve approve ${n.task.id} --input '{"message":"…"}'   or   npx reeve reject ${n.task.id} --reason TEXT [--goto develop]`);
  });
});

server.listen(port, '127.0.0.1', () => console.log(`webhook receiver listening on http://127.0.0.1:${server.address().port}/reeve`));
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}
