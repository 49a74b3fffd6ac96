// Corti's own SDK (@corti/sdk, pinned) as the app, pointed at flowgate: its token requests go to
// /realms/{tenant}/protocol/openid-connect/token (an alias of /oauth2/token that checks the tenant
// and accepts "openid"), and its REST calls to /api/v1/proxy/{connection} with the token
// flowgate issued it as "Authorization: Bearer" (found by fingerprint, attributed to the app).
// Through flowgate the SDK creates an interaction, uploads and downloads a recording, reads a
// transcript over 1 MiB, takes an SSE answer and a transcribe WebSocket (the relay); the
// stand-in sees flowgate's upstream token, never the app's secret. Every SDK test fails when
// the SDK logs a schema warning ("Failed to validate": the stand-in left Corti's shapes).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import { CortiClient, CortiAuth, serialization } from '@corti/sdk';
import { test, useStack } from '../lib/runner.mjs';
import { decodeJwt, basicAuth } from '../lib/util.mjs';

// The SDK reports a response outside its schemas with console.warn (core/schemas/utils/
// maybeSkipValidation) and keeps going: collect what it logs, and fail the test.
const logged = [];
for (const level of ['warn', 'error']) {
  const orig = console[level].bind(console);
  console[level] = (...a) => { logged.push(a.map(String).join(' ')); orig(...a); };
}
/** A test of the SDK that fails if the SDK logged a warning or an error meanwhile. */
const sdkTest = (name, fn, o) => test(name, async () => {
  logged.length = 0;
  await fn();
  assert.deepEqual(logged.splice(0), [], 'the SDK logged a warning (a schema mismatch?)');
}, o);

const stack = useStack({ cortiApi: true });
let app;	// the SDK's app: backend, client credentials, proxy allowed on /interactions
let other;	// another app on the same connection, another scope set

const addApp = async (name, scopes) => {
  const r = await stack.ctl(['--json', 'app', 'add', name, '--connection', 'demo', '--flow',
    'client_credentials', '--kind', 'backend', '--scopes', scopes, '--proxy-methods', 'GET POST',
    '--proxy-paths', '/interactions /echo /agentic']);
  return JSON.parse(r.stdout);
};

const environment = () => ({
  base: `${stack.baseUrl}/api/v1/proxy/demo`,
  wss: `ws://127.0.0.1:${stack.nginxPort}/ws/demo`,
  login: `${stack.baseUrl}/realms`,
  agents: `${stack.baseUrl}/api/v1/proxy/demo`,
});

const realmToken = (tenant, a, scope) => stack.http('POST',
  `/realms/${tenant}/protocol/openid-connect/token`, {
    form: { grant_type: 'client_credentials', client_id: a.client_id, client_secret: a.client_secret,
      ...(scope ? { scope } : {}) },
  });

const audit = async () => (await stack.ctl(['--json', 'audit', 'tail', '-n', '200'])).stdout;

test('setup: two backends on connection demo', async () => {
  app = await addApp('sdk-app', 'streams transcribe');
  other = await addApp('sdk-other', 'transcribe');
  assert.ok(app.client_secret && other.client_secret);
});

test('the realm route gives a token; "openid" in the scope is accepted', async () => {
  const r = await realmToken('demo', app, 'openid streams');
  assert.equal(r.status, 200, r.body);
  const j = JSON.parse(r.body);
  assert.equal(j.token_type, 'Bearer');
  assert.ok(j.expires_in > 0);
  assert.ok(decodeJwt(j.access_token).payload.scope.split(' ').includes('streams'));
  const only = await realmToken('demo', app, 'openid');
  assert.equal(only.status, 200, only.body);
});

test('the realm route refuses another tenant with invalid_client, audited', async () => {
  const r = await realmToken('elsewhere', app, 'openid');
  assert.equal(r.status, 401, r.body);
  assert.equal(JSON.parse(r.body).error, 'invalid_client');
  assert.ok(!r.body.includes('access_token'));
  assert.match(await audit(), /not in realm elsewhere/);
});

test('the realm route refuses a wrong secret and a scope outside the registration', async () => {
  const bad = await realmToken('demo', { ...app, client_secret: `${app.client_secret}x` }, 'openid');
  assert.equal(bad.status, 401, bad.body);
  const wide = await realmToken('demo', other, 'openid streams');
  assert.equal(wide.status, 400, wide.body);
  assert.equal(JSON.parse(wide.body).error, 'invalid_scope');
});

sdkTest('CortiAuth.getToken gets its token from flowgate', async () => {
  const auth = new CortiAuth({ environment: environment(), tenantName: 'demo' });
  const t = await auth.getToken({ clientId: app.client_id, clientSecret: app.client_secret });
  assert.ok(t.accessToken && t.expiresIn > 0, JSON.stringify(Object.keys(t)));
});

sdkTest('CortiClient: an interaction created and listed through the proxy, as the app', async () => {
  await stack.cortiReset();
  const client = new CortiClient({ environment: environment(), tenantName: 'demo',
    auth: { clientId: app.client_id, clientSecret: app.client_secret } });
  const created = await client.interactions.create({
    encounter: { identifier: 'sdk-1', status: 'planned', type: 'first_consultation' },
  });
  assert.ok(created.interactionId, JSON.stringify(created));
  const page = await client.interactions.list();
  assert.ok(page.data.some((i) => i.id === created.interactionId || i.interactionId === created.interactionId),
    JSON.stringify(page.data));
  const seen = await stack.cortiRequests();
  assert.ok(seen.length >= 2);
  for (const s of seen) assert.equal(s.headers['tenant-name'], 'demo');
  assert.match(await audit(), /proxy\.call[^\n]*sdk-app|sdk-app[^\n]*proxy\.call/);
});

test('a bearer token of another app, an unknown one, or a malformed one is refused 401', async () => {
  const mine = JSON.parse((await realmToken('demo', app, 'openid')).body).access_token;
  const theirs = JSON.parse((await realmToken('demo', other, 'openid')).body).access_token;
  const call = (tok) => stack.http('GET', '/api/v1/proxy/demo/interactions/',
    { headers: { authorization: `Bearer ${tok}` } });
  assert.equal((await call(mine)).status, 200);
  // the other app's registration allows the call too: its token is its own credential
  assert.equal((await call(theirs)).status, 200);
  await stack.cortiReset();
  const forged = `${mine.slice(0, -4)}AAAA`;
  for (const tok of [forged, 'abc', 'a b', '"x"']) {
    const r = await call(tok);
    assert.equal(r.status, 401, `${tok.slice(0, 12)}: ${r.status} ${r.body}`);
  }
  assert.equal((await stack.cortiRequests()).length, 0, 'a refused bearer reached the upstream');
});

test('a token shared by two apps (same scope set) names no single caller: 401', async () => {
  const twin = await addApp('sdk-twin', 'streams transcribe');
  const a = JSON.parse((await realmToken('demo', app, 'streams')).body).access_token;
  const b = JSON.parse((await realmToken('demo', twin, 'streams')).body).access_token;
  assert.equal(a, b, 'the cache shares one token per connection and scope set');
  const r = await stack.http('GET', '/api/v1/proxy/demo/interactions/',
    { headers: { authorization: `Bearer ${a}` } });
  assert.equal(r.status, 401, r.body);
});

test('a token the proxy used for another app (Basic) does not make a bearer ambiguous', async () => {
  const viaBasic = await addApp('sdk-basic', 'streams interactions');
  const viaBearer = await addApp('sdk-bearer', 'streams interactions');
  const basic = await stack.http('GET', '/api/v1/proxy/demo/interactions/',
    { basic: [viaBasic.client_id, viaBasic.client_secret] });
  assert.equal(basic.status, 200, basic.body);
  const t = JSON.parse((await realmToken('demo', viaBearer, 'streams interactions')).body).access_token;
  const r = await stack.http('GET', '/api/v1/proxy/demo/interactions/', { headers: { authorization: `Bearer ${t}` } });
  assert.equal(r.status, 200, r.body);
});

test('a revoked app\'s bearer token stops working', async () => {
  const gone = await addApp('sdk-gone', 'transcribe streams interactions');
  const t = JSON.parse((await realmToken('demo', gone, 'interactions transcribe')).body).access_token;
  const call = () => stack.http('GET', '/api/v1/proxy/demo/interactions/',
    { headers: { authorization: `Bearer ${t}` } });
  assert.equal((await call()).status, 200);
  await stack.ctl(['app', 'revoke', 'sdk-gone']);
  assert.equal((await call()).status, 401);
});

test('no token in any log', async () => {
  const t = JSON.parse((await realmToken('demo', app, 'openid streams')).body).access_token;
  await stack.http('GET', '/api/v1/proxy/demo/interactions/', { headers: { authorization: `Bearer ${t}` } });
  const logs = stack.readLogs();
  for (const [k, v] of Object.entries(logs)) {
    assert.ok(!v.includes(t), `the token is in the ${k} log`);
    assert.ok(!v.includes(t.split('.')[2]), `the token's signature is in the ${k} log`);
  }
});

const sdkClient = () => new CortiClient({ environment: environment(), tenantName: 'demo',
  auth: { clientId: app.client_id, clientSecret: app.client_secret } });
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
// the stand-in serves a recording back as its /large pattern: upload that pattern, get it back
const PATTERN = Buffer.alloc(64 * 1024, 'abcdefghijklmnopqrstuvwxyz0123456789\n');
const AUDIO = Buffer.concat(Array(80).fill(PATTERN));	// 5 MiB
let ia;	// an interaction of these tests
let recordingId;

/**
 * The upstream's view: every request carried a token of flowgate's connection (its upstream
 * client's, in the header or, on a WebSocket, the query), never the app's secret.
 */
async function upstreamSawOnlyFlowgate() {
  const seen = await stack.cortiRequests();
  assert.ok(seen.length > 0);
  for (const r of seen) {
    const tok = (r.headers.authorization || r.query.token || '').replace(/^Bearer /, '');
    assert.equal(decodeJwt(tok).payload.client_id, stack.upstream.clientId, `${r.method} ${r.path}`);
  }
  assert.ok(!JSON.stringify(seen).includes(app.client_secret), 'the app\'s secret reached the upstream');
}

sdkTest('a recording of 5 MiB uploaded and downloaded through the proxy, byte for byte', async () => {
  await stack.cortiReset();
  const client = sdkClient();
  ia = (await client.interactions.create({
    encounter: { identifier: 'sdk-rec', status: 'in-progress', type: 'consultation' },
  })).interactionId;
  const up = await client.recordings.upload(AUDIO, ia);
  recordingId = up.recordingId;
  // what the stand-in counted and hashed as the body streamed in
  assert.equal(up.bytes, AUDIO.length);
  assert.equal(up.sha256, sha256(AUDIO));
  const down = Buffer.from(await (await client.recordings.get(ia, recordingId)).arrayBuffer());
  assert.equal(down.length, AUDIO.length);
  assert.equal(sha256(down), sha256(AUDIO));
  const [upload] = (await stack.cortiRequests()).filter((r) => r.method === 'POST' && /recordings/.test(r.path));
  assert.match(upload.headers['content-type'], /^application\/octet-stream/);
  await upstreamSawOnlyFlowgate();
}, { timeout: 60000 });

sdkTest('a transcript larger than 1 MiB read through the proxy', async () => {
  const client = sdkClient();
  const made = await client.transcripts.create(ia, { recordingId, primaryLanguage: 'en' });
  const t = await client.transcripts.get(ia, made.id);
  const n = AUDIO.length / 4096;	// the stand-in's segment per 4 KiB of recording
  assert.equal(t.transcripts.length, n);
  assert.ok(JSON.stringify(t).length > 1024 * 1024, `${JSON.stringify(t).length} bytes`);
  assert.match(t.transcripts[n - 1].text, new RegExp(`^segment ${n} of ${n} of recording ${recordingId}\\.`));
  assert.equal(t.status, 'completed');
}, { timeout: 60000 });

sdkTest('an SSE answer (A2A message:stream) through the proxy: events in order, each as it is sent', async () => {
  const client = sdkClient();
  const headers = await client.getAuthHeaders();	// the SDK's bearer (flowgate's token) and Tenant-Name
  headers.set('A2A-Version', '1.0');
  headers.set('content-type', 'application/json');
  const r = await fetch(`${environment().agents}/agentic/agents/sdk-agent/a2a/message:stream?events=4&ms=1000`, {
    method: 'POST', headers, body: JSON.stringify({ message: { role: 'user', parts: [{ kind: 'text', text: 'hi' }] } }),
  });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/event-stream/);
  const events = [];
  let buf = '';
  const dec = new TextDecoder();
  for await (const chunk of r.body) {
    buf += dec.decode(chunk, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const data = /^data: (.*)$/m.exec(buf.slice(0, i));
      buf = buf.slice(i + 2);
      if (data) events.push({ ...JSON.parse(data[1]), arrived: Date.now() });
    }
  }
  assert.deepEqual(events.map((e) => e.seq), [0, 1, 2, 3]);
  assert.deepEqual(events.map((e) => e.last), [false, false, false, true]);
  // not buffered: the first event was here before the stand-in wrote the last (3 s later)
  assert.ok(events[0].arrived < events[3].sentAt, JSON.stringify(events));
  await upstreamSawOnlyFlowgate();
}, { timeout: 30000 });

sdkTest('CortiClient.transcribe through the relay: the SDK\'s token in the query, audio answered in Corti\'s shapes', async () => {
  await stack.cortiReset();
  const client = sdkClient();
  const socket = await client.transcribe.connect({ configuration: { primaryLanguage: 'en', automaticPunctuation: true } });
  const got = [];
  const waiters = [];
  socket.on('message', (m) => { got.push(m); waiters.splice(0).forEach((w) => w()); });
  const until = async (pred) => { while (!pred()) await new Promise((res) => waiters.push(res)); };
  const chunks = [1, 2, 3].map((i) => Buffer.alloc(8000, i));	// 250 ms of 16 kHz 16-bit audio each
  for (const c of chunks) socket.sendAudio(c);
  await until(() => got.filter((m) => m.type === 'transcript').length === 3);
  const texts = got.filter((m) => m.type === 'transcript').map((m) => m.data.text);
  assert.deepEqual(texts, chunks.map((c, i) => `chunk ${i + 1}: 8000 bytes sha256 ${sha256(c)}`));
  socket.sendFlush({ type: 'flush' });
  await until(() => got.some((m) => m.type === 'flushed'));
  socket.sendEnd({ type: 'end' });
  await until(() => got.some((m) => m.type === 'ended'));
  assert.deepEqual(got.map((m) => m.type), ['transcript', 'transcript', 'transcript', 'flushed', 'usage', 'ended']);
  socket.close();
  const [session] = await stack.cortiRequest('GET', '/_control/ws');
  assert.deepEqual(session.configuration, { primaryLanguage: 'en', automaticPunctuation: true });
  assert.equal(session.sha256, sha256(Buffer.concat(chunks)));
  // the upgrade the stand-in saw: flowgate's relay token in the query, no Authorization header
  const [up] = (await stack.cortiRequests()).filter((r) => r.path === '/audio-bridge/v2/transcribe');
  assert.equal(up.status, 101);
  assert.equal(up.query['tenant-name'], 'demo');
  assert.equal(up.headers.authorization, undefined);
  assert.equal(decodeJwt(up.query.token.replace(/^Bearer /, '')).payload.client_id, stack.upstream.clientId);
  await upstreamSawOnlyFlowgate();
}, { timeout: 30000 });

sdkTest('CortiClient.stream through the relay at the SDK\'s own path ({wss}/interactions/{id}/streams), authenticated as the SDK does it', async () => {
  await stack.cortiReset();
  const client = sdkClient();
  const id = (await client.interactions.create({
    encounter: { identifier: 'sdk-stream', status: 'in-progress', type: 'consultation' },
  })).interactionId;
  const socket = await client.stream.connect({ id,
    configuration: { transcription: { primaryLanguage: 'en', participants: [{ channel: 0, role: 'multiple' }] },
      mode: { type: 'transcription' } } });
  const got = [];
  const ended = new Promise((res) => socket.on('message', (m) => { got.push(m); if (m.type === 'ENDED') res(); }));
  const chunk = Buffer.alloc(16000, 9);
  socket.sendAudio(chunk);
  socket.sendEnd({ type: 'end' });
  await ended;
  socket.close();
  assert.deepEqual(got.map((m) => m.type), ['transcript', 'usage', 'ENDED']);
  assert.equal(got[0].data[0].transcript, `chunk 1: 16000 bytes sha256 ${sha256(chunk)}`);
  const [up] = (await stack.cortiRequests()).filter((r) => r.path === `/api/v2/interactions/${id}/streams`);
  assert.equal(up.status, 101);
  await upstreamSawOnlyFlowgate();
}, { timeout: 30000 });

/** Through the relay with Basic: send each of msgs after the open, collect every answer until the close. */
function session(path, msgs) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${stack.nginxPort}/ws/demo/${path}`,
      { headers: { authorization: basicAuth(app.client_id, app.client_secret) } });
    const got = [];
    ws.on('open', () => msgs.forEach((m) => ws.send(m)));
    ws.on('message', (d) => got.push(JSON.parse(d)));
    ws.on('close', (code) => resolve({ code, got }));
    ws.on('error', reject);
  });
}

test('every message the stand-in sends passes the SDK\'s schemas strictly (config refusals, deadline, errors)', async () => {
  const ia = (await sdkClient().interactions.create({
    encounter: { identifier: 'sdk-shapes', status: 'planned', type: 'consultation' } })).interactionId;
  const config = JSON.stringify({ type: 'config', configuration: { primaryLanguage: 'en' } });
  const all = (path) => Promise.all([
    session(path, []),	// the 10 s deadline
    session(path, [Buffer.alloc(10)]),	// audio before the configuration
    session(path, ['{"type":"hello"}']),	// not a configuration
    session(path, [config, config, '{"type":"nonsense"}', 'not json', Buffer.alloc(3200), '{"type":"flush"}', '{"type":"end"}']),
  ]);
  const [transcribe, streams] = await Promise.all([all('transcribe'), all(`streams/${ia}`)]);
  const sessions = { transcribe, streams };
  const types = (k, i) => sessions[k][i].got.map((m) => m.type);
  assert.deepEqual(types('transcribe', 0), ['CONFIG_TIMEOUT']);
  assert.deepEqual(types('streams', 0), ['CONFIG_NOT_PROVIDED']);
  for (const k of ['transcribe', 'streams']) {
    assert.equal(sessions[k][0].code, 1008);
    assert.deepEqual(types(k, 1), ['CONFIG_MISSING']);
    assert.deepEqual(types(k, 2), ['CONFIG_DENIED']);
    assert.deepEqual(types(k, 3), ['CONFIG_ACCEPTED', 'CONFIG_ALREADY_RECEIVED', 'error', 'error', 'transcript', 'flushed', 'usage',
      k === 'transcribe' ? 'ended' : 'ENDED']);
    assert.equal(sessions[k][3].code, 1000);
  }
  // strictly: no skipValidation, no unknown keys
  const schema = { transcribe: serialization.TranscribeSocketResponse, streams: serialization.StreamSocketResponse };
  for (const k of ['transcribe', 'streams']) {
    for (const m of sessions[k].flatMap((x) => x.got)) {
      const r = schema[k].parse(m, { unrecognizedObjectKeys: 'fail' });
      assert.ok(r.ok, `${k} ${JSON.stringify(m)}: ${JSON.stringify(r.errors)}`);
    }
  }
}, { timeout: 30000 });
