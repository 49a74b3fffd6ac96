// GET /healthz (daemon reachable, database writable, each connection's state: degraded and
// named when its latest token request failed, ok again when one succeeds) and GET /metrics
// (Prometheus text format, with a gauge per connection).
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken, assertJson } from '../lib/oauth-assert.mjs';
import { closedPort } from '../lib/ports.mjs';
import { sleep } from '../lib/util.mjs';

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

/** /healthz as JSON, and the state of each named connection. */
async function health() {
  const r = await stack.http('GET', '/healthz');
  assertJson(r);
  const states = Object.fromEntries((r.json.connection_states || []).map((c) => [c.name, c]));
  return { status: r.status, json: r.json, states };
}

test('/healthz: a connection whose upstream cannot be reached is named, degraded; the others stay ok', async () => {
  const h0 = await health();
  assert.equal(h0.json.status, 'ok', JSON.stringify(h0.json));
  assert.equal(h0.states.demo?.status, 'ok', `demo got a token: ${JSON.stringify(h0.json)}`);
  assert.ok(h0.states.demo.last_ok_at > 0, 'last success is reported');
  assert.equal(typeof h0.states.demo.secret_age_s, 'number');
  assert.equal(h0.states.demo.stopped, false);

  const port = await closedPort();
  await stack.addConnection('broken', { tokenUrl: `https://127.0.0.1:${port}/token`, noVerify: true });
  const bad = await stack.addApp('on-broken', { connection: 'broken', scopes: 'transcribe' });
  let h = await health();
  assert.equal(h.states.broken?.status, 'unknown', `no outcome yet: ${JSON.stringify(h.json)}`);
  assert.equal(h.json.status, 'ok');
  const t = await stack.token(bad, 'transcribe');
  assert.equal(t.status, 503, t.body);

  h = await health();
  // a load balancer keeps the front end (the other connections work); monitoring sees degraded
  assert.equal(h.status, 200, JSON.stringify(h.json));
  assert.equal(h.json.status, 'degraded', JSON.stringify(h.json));
  assert.deepEqual(h.json.failing.map((f) => f.name), ['broken']);
  assert.ok(h.json.failing[0].why.length > 0 && h.json.failing[0].since > 0, JSON.stringify(h.json.failing));
  assert.equal(h.states.broken.status, 'degraded');
  assert.match(h.states.broken.last_failure, /\S/);
  assert.equal(h.states.demo.status, 'ok', 'the working connection is not blamed');
  assert.equal(h.json.connections.degraded, 1);
  assert.equal(h.json.connections.ok, 1);
  assert.equal(h.json.connections.total, 2);
  // the failing connection comes first
  assert.equal(h.json.connection_states[0].name, 'broken');
  const st = await stack.ctl(['status'], { json: true });
  assert.equal(st.json.connections.status, 'degraded', st.stdout);
  assert.equal(st.json.connections.connections[0].name, 'broken', st.stdout);

  const m = (await stack.http('GET', '/metrics')).body;
  assert.equal(metricValue(m, 'flowgate_connection_up', { connection: 'broken' }), 0, m);
  assert.equal(metricValue(m, 'flowgate_connection_up', { connection: 'demo' }), 1, m);
  assert.equal(metricValue(m, 'flowgate_connections', { state: 'degraded' }), 1, m);
  assert.ok(metricValue(m, 'flowgate_connection_last_failure_timestamp_seconds', { connection: 'broken' }) > 0, m);

  // stopped is the operator's choice, not a failure; removed is forgotten
  await stack.ctl(['connection', 'stop', 'broken']);
  h = await health();
  assert.equal(h.states.broken?.status, 'stopped', JSON.stringify(h.json));
  assert.equal(h.json.status, 'ok', JSON.stringify(h.json));
  await stack.ctl(['app', 'revoke', 'on-broken']);
  await stack.ctl(['connection', 'remove', 'broken']);
  h = await health();
  assert.equal(h.states.broken, undefined);
  assert.equal(h.json.connections.total, 1);
});

test('/healthz: an upstream answering 500 degrades its connection; the next success brings ok back', async () => {
  const app2 = await stack.addApp('svc-streams', { scopes: 'streams' });
  await stack.upstreamMode('error500');
  try {
    const t = await stack.token(app2, 'streams');
    assert.equal(t.status, 503, t.body);
  } finally {
    await stack.upstreamMode('normal');
  }
  let h = await health();
  assert.equal(h.status, 200);
  assert.equal(h.json.status, 'degraded', JSON.stringify(h.json));
  assert.deepEqual(h.json.failing.map((f) => f.name), ['demo']);
  assert.equal(h.states.demo.status, 'degraded');
  assert.ok(h.states.demo.last_ok_at > 0, 'the last success is still shown');

  // after the short retry hold, a token again: ok
  let ok = false;
  for (let i = 0; i < 20 && !ok; i++) {
    await sleep(500);
    ok = (await stack.token(app2, 'streams')).status === 200;
  }
  assert.ok(ok, 'a token after the upstream recovered');
  h = await health();
  assert.equal(h.json.status, 'ok', JSON.stringify(h.json));
  assert.deepEqual(h.json.failing, []);
  assert.equal(h.states.demo.status, 'ok');
  assert.ok(h.states.demo.last_failure_at > 0, 'the last failure is still shown');
});
