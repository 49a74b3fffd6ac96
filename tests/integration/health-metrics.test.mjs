// GET /healthz (daemon reachable, database writable, upstream last status) and GET /metrics
// (Prometheus text format).
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken, assertJson } from '../lib/oauth-assert.mjs';

const stack = useStack();
let app;

function metricValue(text, name, labels = {}) {
  let sum = 0;
  let found = false;
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/);
    if (!m || m[1] !== name) continue;
    const ls = Object.fromEntries([...(m[3] || '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => ls[k] === v)) { sum += Number(m[4]); found = true; }
  }
  return found ? sum : undefined;
}

test('/healthz: 200 JSON saying the database is fine', async () => {
  app = await stack.addApp('svc', { scopes: 'transcribe' });
  assertToken(await stack.token(app, 'transcribe'));
  const r = await stack.http('GET', '/healthz');
  assert.equal(r.status, 200, r.body);
  assertJson(r);
  assert.match(JSON.stringify(r.json), /"database"\s*:\s*"ok"/, `healthz: ${r.body}`);
  assert.match(r.headers['cache-control'] || '', /no-store|no-cache/);
});

test('/metrics: Prometheus text with request and cache counters that move', async () => {
  const m1 = await stack.http('GET', '/metrics');
  assert.equal(m1.status, 200);
  assert.match(m1.headers['content-type'] || '', /^text\/plain/);
  assert.match(m1.body, /^# TYPE \S+ (counter|gauge|histogram|summary)$/m);
  // every sample line parses
  for (const line of m1.body.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    assert.match(line, /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})?\s+([-+0-9.eE]+|NaN|[+-]Inf)(\s+-?\d+)?$/, `bad sample line: ${line}`);
  }
  const names = [...new Set(m1.body.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.match(/^[a-zA-Z_:][a-zA-Z0-9_:]*/)[0]))];
  const requestMetric = names.find((n) => /request/.test(n) && /total$/.test(n));
  assert.ok(requestMetric, `no *request*_total counter in ${names.join(', ')}`);
  const hitMetric = names.find((n) => /cache_hit/.test(n));
  assert.ok(hitMetric, `no cache hit counter in ${names.join(', ')}`);
  const before = { req: metricValue(m1.body, requestMetric), hit: metricValue(m1.body, hitMetric) };
  for (let i = 0; i < 5; i++) assertToken(await stack.token(app, 'transcribe'));
  const m2 = await stack.http('GET', '/metrics');
  assert.ok(metricValue(m2.body, requestMetric) >= before.req + 5, `${requestMetric} did not count 5 requests`);
  assert.ok(metricValue(m2.body, hitMetric) >= before.hit + 1, `${hitMetric} did not count cache hits`);
});
