// The WebSocket relay: /ws/{connection}/transcribe and /ws/{connection}/streams/{id}, relayed
// by nginx after flowgate's gate (transcribe_session / stream_session) said yes; the caller is
// an app (Basic, or the token flowgate issued it in the query, as Corti's SDK sends it) or a
// user session from this site's own pages. Frames pass unchanged both ways; the upstream's
// configuration deadline holds; no token in any log.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import { CortiClient } from '@corti/sdk';
import { test, useStack } from '../lib/runner.mjs';
import { basicAuth } from '../lib/util.mjs';

const stack = useStack({ cortiApi: true });
let app;
let narrow;

const addApp = async (name, scopes) => JSON.parse((await stack.ctl(['--json', 'app', 'add', name,
  '--connection', 'demo', '--flow', 'client_credentials', '--kind', 'backend', '--scopes', scopes,
  '--proxy-methods', 'GET POST', '--proxy-paths', '/interactions'])).stdout);

/** Open a relay; resolves {ws} once open, or {status} when the upgrade is refused. */
function open(path, headers = {}) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${stack.nginxPort}${path}`, { headers });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (req, res) => resolve({ status: res.statusCode }));
    ws.once('error', (err) => resolve({ error: err.message }));
  });
}

const next = (ws) => new Promise((resolve) => ws.once('message', (data, binary) => resolve({ data, binary })));

test('setup: a backend allowed transcribe and streams, one only transcribe', async () => {
  app = await addApp('relay-app', 'transcribe streams');
  narrow = await addApp('relay-narrow', 'transcribe');
});

test('transcribe with Basic: configuration accepted, each audio chunk arrives unchanged (its hash in the transcript)', async () => {
  const { ws, status } = await open('/ws/demo/transcribe', { authorization: basicAuth(app.client_id, app.client_secret) });
  assert.ok(ws, `refused ${status}`);
  ws.send(JSON.stringify({ type: 'config', configuration: { primaryLanguage: 'en' } }));
  assert.equal(JSON.parse((await next(ws)).data).type, 'CONFIG_ACCEPTED');
  const chunk = Buffer.alloc(8000, 7);	// 250 ms of 16 kHz 16-bit audio
  for (let i = 0; i < 5; i++) {
    ws.send(chunk);
    const m = JSON.parse((await next(ws)).data);
    assert.equal(m.data.text, `chunk ${i + 1}: 8000 bytes sha256 ${createHash('sha256').update(chunk).digest('hex')}`);
  }
  ws.close();
});

test('streams of an interaction, with the token flowgate issued in the query (as the SDK sends it)', async () => {
  const t = JSON.parse((await stack.token(app, 'streams')).body).access_token;
  const created = await stack.http('POST', '/api/v1/proxy/demo/interactions/', {
    basic: [app.client_id, app.client_secret], headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ encounter: { identifier: 'ws', status: 'planned', type: 'first_consultation' } }),
  });
  const id = JSON.parse(created.body).interactionId;
  const { ws, status } = await open(`/ws/demo/streams/${id}?tenant-name=demo&token=Bearer%20${t}`);
  assert.ok(ws, `refused ${status}`);
  ws.send(JSON.stringify({ type: 'config', configuration: {} }));
  assert.deepEqual(JSON.parse((await next(ws)).data), { type: 'CONFIG_ACCEPTED' });	// streams: no sessionId
  ws.send('{"type":"flush"}');
  assert.equal((await next(ws)).data.toString(), '{"type":"flushed"}');
  ws.close();
});

test('CortiClient.transcribe.connect through flowgate: its wss points at /ws/{connection}', async () => {
  const client = new CortiClient({
    environment: { base: `${stack.baseUrl}/api/v1/proxy/demo`, agents: `${stack.baseUrl}/api/v1/proxy/demo`,
      login: `${stack.baseUrl}/realms`, wss: `ws://127.0.0.1:${stack.nginxPort}/ws/demo` },
    tenantName: 'demo', auth: { clientId: app.client_id, clientSecret: app.client_secret },
  });
  const socket = await client.transcribe.connect({ configuration: { primaryLanguage: 'en' } });
  socket.close();
});

test('refused before the upgrade: no caller, wrong secret, a scope the app lacks, a session from another site', async () => {
  assert.equal((await open('/ws/demo/transcribe')).status, 401);
  assert.equal((await open('/ws/demo/transcribe', { authorization: basicAuth(app.client_id, 'nope') })).status, 401);
  assert.equal((await open('/ws/demo/streams/abc', { authorization: basicAuth(narrow.client_id, narrow.client_secret) })).status, 400);
  assert.equal((await open('/ws/demo/transcribe', { cookie: 'fg_user=abcdefghijklmnopqrstuvwxyzabcdefghijklmnopq',
    origin: 'https://evil.example' })).status, 403);
  assert.equal((await open('/ws/demo/other', { authorization: basicAuth(app.client_id, app.client_secret) })).status, 404);
});

test('the upstream\'s configuration deadline: a silent client is told CONFIG_TIMEOUT', async () => {
  const { ws } = await open('/ws/demo/transcribe', { authorization: basicAuth(app.client_id, app.client_secret) });
  const m = await next(ws);
  assert.equal(JSON.parse(m.data).type, 'CONFIG_TIMEOUT');
  ws.close();
}, { timeout: 20000 });

test('every relay opening is audited; no token in any log', async () => {
  const out = JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', '200'])).stdout).records;
  const opens = out.filter((x) => x.event === 'relay.open' && x.app === 'relay-app');
  assert.ok(opens.length >= 4 && opens.every((x) => x.token_fp), JSON.stringify(opens.slice(-2)));
  for (const s of ['transcribe', 'streams']) {
    const t = JSON.parse((await stack.token(app, s)).body).access_token;
    for (const [k, v] of Object.entries(stack.readLogs())) assert.ok(!v.includes(t.split('.')[2]), `a token is in the ${k} log`);
  }
});

test('an emergency stop refuses the relay at once: Basic 503, a token issued before it 401 (the stop forgets it, also after resume)', async () => {
  const basic = { authorization: basicAuth(app.client_id, app.client_secret) };
  const t = JSON.parse((await stack.token(app, 'transcribe')).body).access_token;
  const withToken = `/ws/demo/transcribe?tenant-name=demo&token=Bearer%20${t}`;
  const before = await open(withToken);
  assert.ok(before.ws, `the token did not open the relay before the stop: ${before.status}`);
  before.ws.close();
  await stack.ctl(['connection', 'stop', 'demo']);
  try {
    assert.equal((await open('/ws/demo/transcribe', basic)).status, 503);
    assert.equal((await open(withToken)).status, 401);
  } finally {
    await stack.ctl(['connection', 'resume', 'demo']);
  }
  assert.equal((await open(withToken)).status, 401);
  const { ws, status } = await open('/ws/demo/transcribe', basic);
  assert.ok(ws, `refused ${status} after resume`);
  ws.close();
});
