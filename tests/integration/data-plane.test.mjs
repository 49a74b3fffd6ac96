// The data plane: /api/v1/proxy/{connection}/... relayed by nginx after flowgate's gate said yes
// (auth_request -> flowgate-fcgi -> the daemon's proxy.authorize). Bodies stream both ways with
// flat memory in every flowgate process, event streams arrive event by event, upstream errors
// pass through unchanged, the caller's credentials never reach the upstream, the token never
// reaches the caller and is in no log, even when the upstream cannot be reached.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import { test, useStack } from '../lib/runner.mjs';
import { descendantPids } from '../lib/stack.mjs';
import { basicAuth } from '../lib/util.mjs';

const stack = useStack({ cortiApi: true });
const MiB = 1024 * 1024;
const PATTERN = Buffer.alloc(64 * 1024, 'abcdefghijklmnopqrstuvwxyz0123456789\n');
let app;
let dead;
let interactionId;
let recording;

const addApp = async (name, connection) => {
  const r = await stack.ctl(['--json', 'app', 'add', name, '--connection', connection, '--flow',
    'client_credentials', '--kind', 'backend', '--scopes', 'streams transcribe', '--proxy-methods',
    'GET POST', '--proxy-paths', '/interactions /agentic /echo /status']);
  return JSON.parse(r.stdout);
};

/** The token the gate hands the proxy for this app: the cache's for its registered scope set. */
const tokenOf = async (a) => JSON.parse((await stack.token(a, 'streams transcribe')).body).access_token;

/** Resident set sizes (KiB) of flowgated and every flowgate-fcgi process. */
function rss() {
  const pids = [stack.procs.daemon.pid, stack.procs.fcgi.pid, ...descendantPids(stack.procs.fcgi.pid)];
  return Object.fromEntries(pids.map((p) => {
    try {
      return [p, Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))[1])];
    } catch { return [p, 0]; }
  }));
}

/** Sample rss() every 20 ms while fn runs; the largest growth of any process, in KiB. */
async function peakGrowth(fn) {
  const base = rss();
  const peak = { ...base };
  const timer = setInterval(() => {
    for (const [p, v] of Object.entries(rss())) peak[p] = Math.max(peak[p] ?? 0, v);
  }, 20);
  try { return { result: await fn(), growth: Math.max(...Object.keys(base).map((p) => peak[p] - base[p])) }; } finally { clearInterval(timer); }
}

/** One request through nginx; body: a Buffer, or {bytes} streamed from PATTERN. */
function request(method, path, { headers = {}, body, onData } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: stack.nginxPort, method, path, headers, agent: false }, (res) => {
      const h = createHash('sha256');
      let bytes = 0;
      const small = [];
      res.on('data', (c) => {
        bytes += c.length;
        h.update(c);
        if (small.length < 64) small.push(c);
        if (onData) onData(c);
      });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, bytes, sha256: h.digest('hex'),
        text: Buffer.concat(small).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body && body.bytes !== undefined) {
      let left = body.bytes;
      const more = () => {
        while (left > 0) {
          const c = left >= PATTERN.length ? PATTERN : PATTERN.subarray(0, left);
          left -= c.length;
          if (!req.write(c)) { req.once('drain', more); return; }
        }
        req.end();
      };
      more();
    } else req.end(body);
  });
}

function patternSha(n) {
  const h = createHash('sha256');
  for (let left = n; left > 0; left -= PATTERN.length) h.update(left >= PATTERN.length ? PATTERN : PATTERN.subarray(0, left));
  return h.digest('hex');
}

const basic = () => ({ authorization: basicAuth(app.client_id, app.client_secret) });

test('setup: a backend on demo, one on a connection whose API is down, an interaction', async () => {
  app = await addApp('plane', 'demo');
  await stack.addConnection('dead', { apiBase: 'https://127.0.0.1:1/api/v2' });
  dead = await addApp('plane-dead', 'dead');
  const r = await request('POST', '/api/v1/proxy/demo/interactions/', {
    headers: { ...basic(), 'content-type': 'application/json' },
    body: JSON.stringify({ encounter: { identifier: 'plane', status: 'planned', type: 'first_consultation' } }),
  });
  assert.equal(r.status, 201, r.text);
  interactionId = JSON.parse(r.text).interactionId;
});

test('a 20 MiB recording upload streams through with flat memory', async () => {
  const n = 20 * MiB;
  const { result: r, growth } = await peakGrowth(() => request('POST',
    `/api/v1/proxy/demo/interactions/${interactionId}/recordings/`, {
      headers: { ...basic(), 'content-type': 'application/octet-stream', 'content-length': n },
      body: { bytes: n },
    }));
  assert.equal(r.status, 201, r.text);
  recording = JSON.parse(r.text);
  assert.equal(recording.bytes, n);
  assert.equal(recording.sha256, patternSha(n));
  assert.ok(growth < 4096, `a flowgate process grew by ${growth} KiB during the upload`);
});

test('a 20 MiB recording download streams back with flat memory', async () => {
  const { result: r, growth } = await peakGrowth(() => request('GET',
    `/api/v1/proxy/demo/interactions/${interactionId}/recordings/${recording.recordingId}`, { headers: basic() }));
  assert.equal(r.status, 200);
  assert.equal(r.bytes, 20 * MiB);
  assert.equal(r.sha256, patternSha(20 * MiB));
  assert.ok(growth < 4096, `a flowgate process grew by ${growth} KiB during the download`);
});

test('server-sent events arrive one by one: the first before the upstream has finished', async () => {
  const t0 = Date.now();
  const times = [];
  const r = await request('POST', '/api/v1/proxy/demo/agentic/agents/a1/a2a/message:stream?events=3&ms=700', {
    headers: { ...basic(), 'content-type': 'application/json', 'a2a-version': '1.0' },
    body: JSON.stringify({ message: { role: 'user', parts: [{ kind: 'text', text: 'hi' }] } }),
    onData: (c) => { for (const m of c.toString().matchAll(/"seq":(\d)/g)) times[Number(m[1])] = Date.now() - t0; },
  });
  assert.equal(r.status, 200, r.text);
  assert.match(r.headers['content-type'], /^text\/event-stream/);
  assert.equal(times.length, 3, r.text);
  assert.ok(times[0] < times[2] - 1000, `first event at ${times[0]} ms, last at ${times[2]} ms`);
});

test('upstream errors pass through unchanged (status, problem JSON)', async () => {
  const r = await request('GET', '/api/v1/proxy/demo/status/409', { headers: basic() });
  assert.equal(r.status, 409);
  assert.match(r.headers['content-type'], /problem\+json/);
  assert.equal(JSON.parse(r.text).status, 409);
  const missing = await request('POST', '/api/v1/proxy/demo/agentic/agents/a1/a2a/message:stream', { headers: basic() });
  assert.equal(missing.status, 400, 'no A2A-Version: the upstream\'s own 400');
});

test('the caller\'s credentials, cookies and hop-by-hop headers never reach the upstream', async () => {
  const token = await tokenOf(app);
  const r = await request('GET', '/api/v1/proxy/demo/echo/x?a=1', {
    headers: { ...basic(), cookie: 'fg_user=abc; other=1', 'proxy-authorization': 'Basic eDp5',
      'x-forwarded-for': '10.0.0.1', 'tenant-name': 'evil' },
  });
  assert.equal(r.status, 200, r.text);
  const seen = JSON.parse(r.text);
  assert.equal(seen.authorization.scheme, 'Bearer');
  assert.equal(seen.authorization.sha256, createHash('sha256').update(token).digest('hex'));
  for (const h of ['cookie', 'proxy-authorization', 'x-forwarded-for', 'upgrade', 'te']) {
    assert.equal(seen.headers[h], undefined, `${h} reached the upstream`);
  }
  assert.equal(seen.headers['tenant-name'], 'demo');
  assert.deepEqual(seen.query, { a: '1' });
  assert.ok(!JSON.stringify(r.headers).includes(token) && !r.text.includes(token), 'the token reached the caller');
});

test('refusals come from the gate, before anything is sent', async () => {
  await stack.cortiReset();
  const none = await request('GET', '/api/v1/proxy/demo/interactions/');
  assert.equal(none.status, 401, none.text);
  const wrong = await request('GET', '/api/v1/proxy/demo/interactions/',
    { headers: { authorization: basicAuth(app.client_id, `${app.client_secret}x`) } });
  assert.equal(wrong.status, 401);
  assert.equal(JSON.parse(wrong.text).error, 'invalid_client');
  const rule = await request('GET', '/api/v1/proxy/demo/large', { headers: basic() });
  assert.equal(rule.status, 403, rule.text);
  assert.equal(JSON.parse(rule.text).error, 'forbidden');
  const other = await request('GET', '/api/v1/proxy/dead/interactions/', { headers: basic() });
  assert.equal(other.status, 403, other.text);
  const dots = await request('GET', '/api/v1/proxy/demo/interactions/../large', { headers: basic() });
  assert.notEqual(dots.status, 200);
  assert.equal((await stack.cortiRequests()).length, 0, 'a refused call reached the upstream');
});

test('an unreachable upstream: 502 problem JSON, and no token in any log or file', async () => {
  const r = await request('GET', '/api/v1/proxy/dead/interactions/?q=1',
    { headers: { authorization: basicAuth(dead.client_id, dead.client_secret) } });
  assert.equal(r.status, 502, r.text);
  assert.equal(JSON.parse(r.text).status, 502);
  const logs = stack.readLogs();
  assert.match(logs.nginxError, /127\.0\.0\.1:1\/api\/v2\/interactions/, 'nginx logged the failed upstream');
  for (const a of [app, dead]) {
    const token = await tokenOf(a);
    for (const [k, v] of Object.entries(stack.readLogs())) {
      assert.ok(!v.includes(token) && !v.includes(token.split('.')[2]), `a token is in the ${k} log`);
    }
    for (const f of stack.instanceFiles()) {
      if (/\.(db|db-wal|db-shm)$/.test(f)) continue;	// sealed or fingerprints only; secret-leak checks them
      assert.ok(!readFileSync(f).includes(token.split('.')[2]), `a token is in ${f}`);
    }
  }
});

test('every call through the data plane is audited with the app and the token\'s fingerprint', async () => {
  const out = (await stack.ctl(['--json', 'audit', 'tail', '-n', '200'])).stdout;
  const recs = JSON.parse(out).records.filter((x) => x.event === 'proxy.call' && x.app === 'plane');
  assert.ok(recs.some((x) => x.outcome === 'authorized' && /recordings/.test(x.detail)), JSON.stringify(recs.slice(-3)));
  assert.ok(recs.every((x) => x.outcome !== 'authorized' || x.token_fp), 'an authorisation without a fingerprint');
});
