// Every upstream answer is data, never a danger (issue 7): a table of hostile token-endpoint
// answers, scripted at the real test OIDC server (/_control/answer), through nginx -> FastCGI ->
// daemon on POST /oauth2/token and POST /api/v1/stream-sessions. For each: the daemon lives,
// the HTTP status and RFC 6749 error are right (never 500), no broader scope is handed out, a
// narrower grant is reported as granted, and no token from a bad answer ever comes back. Also:
// a websocketUrl on another host is refused, and libcurl ignores proxy settings in the
// daemon's environment.
//
// Cases marked `lead` need the token cache rewrite (daemon/token.c): short lifetimes served
// once and not cached past expiry, the granted scope reported, t->code and t->retry_after used;
// `leadStream`: the stream route passing the upstream's Retry-After on (daemon/stream.c).
import assert from 'node:assert/strict';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { test, after, useStack } from '../lib/runner.mjs';
import { assertOAuthError } from '../lib/oauth-assert.mjs';
import { scopeSet, sleep, formEncode } from '../lib/util.mjs';
import { freePort } from '../lib/ports.mjs';

const stack = useStack({ cortiApi: true });
const ENCOUNTER = { encounter: { identifier: 'enc-answers', status: 'planned', type: 'consultation' } };
let REAL; // a real access token of the test upstream (the Corti stand-in accepts it)
let n = 0;

after(async () => { try { await answer({ count: 0 }); } catch { /* stack gone */ } });

/** Script the next `count` token answers of the test upstream. */
function answer(spec) {
  return stack.upstreamRequest('POST', '/_control/answer', spec);
}

/** A client-credentials token straight from the test upstream, with the connection's secret. */
function upstreamToken(scope) {
  const body = formEncode({ grant_type: 'client_credentials', scope, client_id: stack.upstream.clientId,
    client_secret: stack.connectionSecret });
  const u = new URL(stack.upstream.tokenUrl);
  return new Promise((res, rej) => {
    const req = https.request({
      host: u.hostname, port: u.port, path: u.pathname, method: 'POST', ca: readFileSync(stack.tls.caCert),
      agent: false, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
    }, (r) => {
      const chunks = [];
      r.on('data', (c) => chunks.push(c));
      r.on('end', () => {
        const j = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        if (r.statusCode !== 200) rej(new Error(`upstream token: ${r.statusCode}`));
        else res(j.access_token);
      });
    });
    req.on('error', rej);
    req.end(body);
  });
}

// The answer bodies; `asked` is the canonical scope set flowgate asked for ("openid transcribe").
const bad = (tag) => `fgbad${tag}token`;
const ok = (fields) => `{"access_token":"${REAL}","token_type":"Bearer"${fields}}`;
const DOWN = { status: 503, error: 'temporarily_unavailable' };

/**
 * The table. `ok`: the token is served (maxTtl: the longest expires_in allowed, scope: what must be
 * reported, given the asked set). Otherwise the error and its status on each route.
 */
const TABLE = [
  ['expires_in missing: a conservative 60 s', { body: () => ok('') }, { ok: true, maxTtl: 60 }],
  ['expires_in 0', { body: () => `{"access_token":"${bad(0)}","token_type":"Bearer","expires_in":0}` }, DOWN],
  ['expires_in -1', { body: () => `{"access_token":"${bad(1)}","token_type":"Bearer","expires_in":-1}` }, DOWN],
  ['expires_in 1: served, not cached past expiry', { body: () => ok(',"expires_in":1') }, { ok: true, maxTtl: 1, short: 1, lead: true }],
  ['expires_in 2.5: served as 2 s at most', { body: () => ok(',"expires_in":2.5') }, { ok: true, maxTtl: 2, short: 2, lead: true }],
  ['expires_in "300" (a string)', { body: () => `{"access_token":"${bad(2)}","token_type":"Bearer","expires_in":"300"}` }, DOWN],
  ['expires_in 1e300: clamped to a day', { body: () => ok(',"expires_in":1e300') }, { ok: true, maxTtl: 86400 }],
  ['expires_in 2^62: clamped to a day', { body: () => ok(',"expires_in":4611686018427387904') }, { ok: true, maxTtl: 86400 }],
  ['expires_in beyond 64 bits', { body: () => `{"access_token":"${bad(3)}","token_type":"Bearer","expires_in":99999999999999999999}` }, DOWN],
  ['token_type BEARER', { body: () => `{"access_token":"${REAL}","token_type":"BEARER","expires_in":300}` }, { ok: true, maxTtl: 300 }],
  ['token_type mac', { body: () => `{"access_token":"${bad(4)}","token_type":"mac","expires_in":300}` }, DOWN],
  ['token_type 42', { body: () => `{"access_token":"${bad(5)}","token_type":42,"expires_in":300}` }, DOWN],
  ['scope broader than asked: never handed out', { body: (asked) => ok(`,"expires_in":300,"scope":"${asked} interactions"`) },
    { ...DOWN, real: true }],
  ['scope narrower than asked: reported as granted', { body: (asked) => ok(`,"expires_in":300,"scope":"${asked.replace('openid ', '')}"`) },
    { ok: true, maxTtl: 300, scope: (asked) => asked.replace('openid ', ''), lead: true }],
  ['scope not a string', { body: () => `{"access_token":"${bad(6)}","token_type":"Bearer","expires_in":300,"scope":["openid"]}` }, DOWN],
  ['access_token not a string', { body: () => '{"access_token":42,"token_type":"Bearer","expires_in":300}' }, DOWN],
  ['access_token of 20 KiB', { body: () => `{"access_token":"${'fgbad7'.repeat(3414)}","token_type":"Bearer","expires_in":300}` }, DOWN],
  ['access_token with quotes', { body: () => `{"access_token":"${bad(8)}\\"x\\"","token_type":"Bearer","expires_in":300}` }, DOWN],
  ['access_token with a newline', { body: () => `{"access_token":"${bad(9)}\\nx","token_type":"Bearer","expires_in":300}` }, DOWN],
  ['access_token with unicode', { body: () => `{"access_token":"${bad(10)}\u00e9\u2028","token_type":"Bearer","expires_in":300}` }, DOWN],
  ['an array', { body: () => `[{"access_token":"${bad(11)}","token_type":"Bearer","expires_in":300}]` }, DOWN],
  ['nested objects', { body: () => `{"data":{"access_token":"${bad(12)}","token_type":"Bearer","expires_in":300}}` }, DOWN],
  ['duplicate keys', { body: () => `{"access_token":"${bad(13)}","access_token":"${REAL}","token_type":"Bearer","expires_in":300}` },
    { ...DOWN, real: true }],
  ['a NUL byte', { body: () => `{"access_token":"${bad(14)}","token_type":"Bearer","expires_in":300}\u0000` }, DOWN],
  ['HTML with 200', { headers: { 'content-type': 'text/html' }, body: () => `<html><body>${bad(15)}</body></html>` }, DOWN],
  ['an empty 200', { body: () => '' }, DOWN],
  ['an empty 401 (the reason in WWW-Authenticate)', { status: 401, headers: { 'www-authenticate': 'Bearer error="invalid_client"' }, body: () => '' }, DOWN],
  ['403', { status: 403, body: () => '' }, DOWN],
  ['429 with Retry-After: 7', { status: 429, headers: { 'retry-after': '7' }, body: () => '{"error":"slow_down"}' },
    { ...DOWN, retryAfter: 7, leadStream: true }],
  ['400 scope_invalid (glewlwyd)', { status: 400, body: () => '{"error":"scope_invalid","error_description":"scope not allowed"}' },
    { status: 400, error: 'invalid_scope' }],
  ['400 invalid_scope', { status: 400, body: () => '{"error":"invalid_scope"}' }, { status: 400, error: 'invalid_scope' }],
  ['400 unauthorized_client', { status: 400, body: () => '{"error":"unauthorized_client"}' },
    { status: 400, streamStatus: 403, error: 'unauthorized_client', lead: true }],
  ['500 HTML', { status: 500, headers: { 'content-type': 'text/html' }, body: () => '<html>Internal Server Error</html>' }, DOWN],
];
// the cases that need token.c's rewrite last: on the old cache a tiny lifetime kills the daemon
const CASES = [...TABLE.filter((c) => !c[2].lead), ...TABLE.filter((c) => c[2].lead)];

/** Check one answer of flowgate against the case's expectation. */
function check(r, expect, asked, route) {
  const where = `${route}: HTTP ${r.status} ${r.body.slice(0, 300)}`;
  assert.ok(stack.daemonAlive(), 'the daemon died');
  assert.notEqual(r.status, 500, where);
  assert.ok(!/fgbad/.test(r.body), `a token from a bad answer came back: ${where}`);
  if (expect.ok) {
    const j = JSON.parse(r.body);
    assert.equal(r.status, route === 'token' ? 200 : 201, where);
    assert.equal(j.access_token, REAL, where);
    assert.ok(Number.isInteger(j.expires_in) && j.expires_in >= 0 && j.expires_in <= expect.maxTtl,
      `expires_in ${j.expires_in} not in [0, ${expect.maxTtl}]: ${where}`);
    const want = scopeSet(expect.scope ? expect.scope(asked) : asked);
    assert.deepEqual(scopeSet(j.scope), want, `scope reported: ${where}`);
    return;
  }
  if (expect.real) assert.ok(!r.body.includes(REAL), `the token of a refused answer came back: ${where}`);
  if (route === 'token') {
    assertOAuthError(r, expect.status, expect.error);
  } else {
    assert.equal(r.status, expect.streamStatus || expect.status, where);
    assert.equal(JSON.parse(r.body).error, expect.error, where);
    assert.equal(JSON.parse(r.body).access_token, undefined, where);
  }
  if (expect.status === 503) {
    assert.match(String(r.headers['retry-after'] || ''), /^[1-9]\d*$/, `Retry-After on 503: ${where}`);
    if (expect.retryAfter) assert.equal(r.headers['retry-after'], String(expect.retryAfter), `the upstream's Retry-After: ${where}`);
  }
}

/**
 * A fresh upstream client, connection and app: an empty cache, so the next request goes upstream,
 * and scripted answers only for this client (background refreshes of others never take them).
 */
async function freshApp() {
  n++;
  const client = `answers-client-${n}`;
  const secret = `answers-secret-${n}-${stack.connectionSecret.slice(-16)}`;
  await stack.upstreamAddClient({ client_id: client, client_secret: secret, grants: ['client_credentials'] });
  await stack.addConnection(`answers${n}`, { noVerify: true, clientId: client, secret });
  const app = await stack.addApp(`answers${n}`, { connection: `answers${n}`, scopes: 'transcribe streams' });
  return { ...app, upstreamClient: client };
}

test('setup: a real upstream token, and the scripted answer reaches the token endpoint', async () => {
  REAL = await upstreamToken('openid streams transcribe');
  assert.ok(/^[\w.-]+$/.test(REAL) && REAL.length > 100, 'a JWT from the test upstream');
  const app = await freshApp();
  await answer({ status: 200, body: ok(',"expires_in":300,"scope":"openid transcribe"'), count: 1, client: app.upstreamClient });
  const r = await stack.token(app, 'transcribe');
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json.access_token, REAL, 'the scripted answer was not used');
});

for (const [name, spec, expect] of CASES) {
  test(`${expect.lead ? '[needs token.c] ' : ''}token endpoint, upstream answers ${name}`, async () => {
    const app = await freshApp();
    const asked = 'openid transcribe';
    await answer({ status: spec.status || 200, headers: spec.headers || {}, body: spec.body(asked), count: 1,
      client: app.upstreamClient });
    const before = (await stack.upstreamStats()).token_requests;
    const r = await stack.token(app, 'transcribe');
    assert.equal((await stack.upstreamStats()).token_requests, before + 1, 'one upstream request');
    check(r, expect, asked, 'token');
    if (expect.short) {
      // served once; not cached past its expiry: the next request after it goes upstream again
      await sleep(expect.short * 1000 + 1100);
      const again = await stack.token(app, 'transcribe');
      assert.equal(again.status, 200, again.body);
      assert.notEqual(again.json.access_token, REAL, 'a token was served past its expiry');
      assert.equal((await stack.upstreamStats()).token_requests, before + 2, 'the expired token was not fetched again');
    }
  });

  test(`${expect.lead || expect.leadStream ? '[needs token.c, stream.c] ' : ''}stream session, upstream answers ${name}`, async () => {
    const app = await freshApp();
    const asked = 'openid streams';
    await answer({ status: spec.status || 200, headers: spec.headers || {}, body: spec.body(asked), count: 1,
      client: app.upstreamClient });
    const r = await stack.http('POST', '/api/v1/stream-sessions', {
      headers: { 'content-type': 'application/json' }, body: JSON.stringify(ENCOUNTER), basic: [app.client_id, app.client_secret],
    });
    check(r, expect, asked, 'stream');
    if (expect.ok) assert.ok(JSON.parse(r.body).websocketUrl.startsWith(`wss://127.0.0.1:${stack.corti.port}/`), r.body);
  });
}

test('stream session: a websocketUrl on another host than the connection\'s API is refused', async () => {
  n++;
  // the same Corti stand-in, named localhost: it answers wss://127.0.0.1:PORT/..., another host
  await stack.addConnection(`answers${n}`, { apiBase: `https://localhost:${stack.corti.port}/api/v2` });
  const app = await stack.addApp(`answers${n}`, { connection: `answers${n}`, scopes: 'transcribe streams' });
  const r = await stack.http('POST', '/api/v1/stream-sessions', {
    headers: { 'content-type': 'application/json' }, body: JSON.stringify(ENCOUNTER), basic: [app.client_id, app.client_secret],
  });
  assert.equal(r.status, 502, r.body);
  assert.match(r.body, /websocketUrl is not wss:\/\/ on the connection's API host/, r.body);
  assert.ok(!/access_token/.test(r.body), 'no token with a refused interaction');
  assert.ok(stack.daemonAlive());
});

test('connection verification: an upstream client without openid verifies (no scope is asked)', async () => {
  await stack.upstreamAddClient({ client_id: 'answers-no-openid', client_secret: 'answers-no-openid-secret-1',
    grants: ['client_credentials'], scope: 'transcribe streams' });
  await stack.addConnection('answers-noopenid', { clientId: 'answers-no-openid', secret: 'answers-no-openid-secret-1' });
  const t = await stack.ctl(['connection', 'test', 'answers-noopenid'], { json: true });
  assert.equal(t.json.outcome, 'ok', t.stdout);
});

test('connection verification says which of TLS, the secret or the scope was refused', async () => {
  const add = (name, o) => stack.addConnection(name, { ...o, expect: null });
  const said = (r) => `${r.stdout}${r.stderr}`;
  // TLS: a token URL whose server speaks plain HTTP (nginx) cannot complete a handshake
  const tls = await add('answers-tls', { tokenUrl: `https://127.0.0.1:${stack.nginxPort}/realms/demo/protocol/openid-connect/token` });
  assert.notEqual(tls.code, 0);
  assert.match(said(tls), /TLS: /, said(tls));
  // the secret: the upstream's 401 invalid_client
  const sec = await add('answers-secret', { secret: 'not-the-secret-of-this-client' });
  assert.notEqual(sec.code, 0);
  assert.match(said(sec), /secret: the upstream refused this client id or secret \(HTTP 401 invalid_client\)/, said(sec));
  assert.doesNotMatch(said(sec), /TLS|scope:/, said(sec));
  // the scope (as an upstream might answer even without one asked)
  await stack.upstreamAddClient({ client_id: 'answers-scope', client_secret: 'answers-scope-secret-1', grants: ['client_credentials'] });
  await answer({ status: 400, body: '{"error":"invalid_scope"}', count: 1, client: 'answers-scope' });
  const sc = await add('answers-scope', { clientId: 'answers-scope', secret: 'answers-scope-secret-1' });
  assert.notEqual(sc.code, 0);
  assert.match(said(sc), /scope: the upstream accepted the secret but refused the scope/, said(sc));
  // connection test says the same, with what failed
  await stack.addConnection('answers-test', { clientId: 'answers-scope', secret: 'answers-scope-secret-1' });
  await answer({ status: 401, headers: { 'www-authenticate': 'Basic realm="x"' }, body: '', count: 1, client: 'answers-scope' });
  const t = await stack.ctl(['connection', 'test', 'answers-test'], { json: true });
  assert.equal(t.json.outcome, 'error', t.stdout);
  assert.equal(t.json.failed, 'secret', t.stdout);
  assert.match(t.json.message, /^secret: /, t.stdout);
});

test('libcurl ignores proxy settings in the daemon\'s environment', async () => {
  const closed = await freePort();
  const proxy = `http://127.0.0.1:${closed}`;
  await stack.killDaemon('SIGTERM');
  await stack.startDaemon({ wrap: ['env', `https_proxy=${proxy}`, `HTTPS_PROXY=${proxy}`, `ALL_PROXY=${proxy}`,
    `all_proxy=${proxy}`, `http_proxy=${proxy}`, 'NO_PROXY=', 'no_proxy='] });
  const app = await freshApp();
  const before = (await stack.upstreamStats()).token_requests;
  const r = await stack.token(app, 'transcribe');
  assert.equal(r.status, 200, `a token through a proxy-poisoned environment: ${r.body}`);
  assert.equal((await stack.upstreamStats()).token_requests, before + 1, 'it came from the upstream');
  const s = await stack.http('POST', '/api/v1/stream-sessions', {
    headers: { 'content-type': 'application/json' }, body: JSON.stringify(ENCOUNTER), basic: [app.client_id, app.client_secret],
  });
  assert.equal(s.status, 201, `an interaction through a proxy-poisoned environment: ${s.body}`);
});

test('the daemon survived all of it without a sanitizer report', async () => {
  assert.ok(stack.daemonAlive());
  assert.doesNotMatch(stack.readLogs().daemon, /AddressSanitizer|runtime error:|Segmentation|core dumped/);
});
