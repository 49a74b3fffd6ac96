// Issue 4 through nginx and FastCGI (plain HTTP, no browser): stream and transcribe sessions
// against the Corti stand-in, the backend proxy, ROPC at /oauth2/token, and the /login,
// /callback, /logout and /api/v1/session/token routes with a scripted user login.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, useStack } from '../lib/runner.mjs';
import { scriptedLogin } from '../lib/oidc-login.mjs';
import { decodeJwt } from '../lib/util.mjs';

const DANA = ['dana', 'dana-password-1'];
const stack = useStack({
  cortiApi: true,
  oidcUsers: [DANA],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token', 'password'] },
});
const apps = {};
const ENCOUNTER = { encounter: { identifier: 'enc-7', status: 'planned', type: 'consultation', title: 'Follow-up' } };

async function addApp(name, args) {
  const r = await stack.ctl(['--json', 'app', 'add', name, '--connection', 'demo', ...args]);
  apps[name] = JSON.parse(r.stdout);
  return apps[name];
}

const basic = (app) => [apps[app].client_id, apps[app].client_secret];
const json = (body, extra = {}) => ({ headers: { 'content-type': 'application/json', ...extra }, body: JSON.stringify(body) });
const setCookies = (r) => [].concat(r.headers['set-cookie'] || []);

function assertCommonHeaders(r) {
  assert.equal(r.headers['x-content-type-options'], 'nosniff');
  assert.match(r.headers['cache-control'] || '', /no-store/);
}

test('setup: a backend with proxy rules, a user-facing PKCE app, an internal ROPC app', async () => {
  await addApp('backend', ['--flow', 'client_credentials', '--kind', 'backend', '--scopes', 'transcribe streams interactions',
    '--proxy-methods', 'GET POST', '--proxy-paths', '/interactions/ /echo /large /slow']);
  await addApp('ui', ['--flow', 'authorization_code_pkce', '--kind', 'user_facing', '--scopes', 'transcribe streams',
    '--redirect-uri', `${stack.baseUrl}/callback`, '--return-url', `${stack.baseUrl}/healthz`]);
  await addApp('kiosk', ['--flow', 'ropc', '--kind', 'user_facing', '--scopes', 'transcribe', '--internal', '--no-redirect',
    '--justification', 'Shop-floor terminal without a browser; replacement planned for Q3.']);
  for (const a of Object.keys(apps)) assert.ok(apps[a].client_secret, JSON.stringify(apps[a]));
});

test('stream-sessions with Basic: 201, the stand-in got exactly the rebuilt body, the bearer and Tenant-Name', async () => {
  await stack.cortiReset();
  const body = { ...ENCOUNTER, assignedUserId: '0f8c2b7e-1d2a-4c3b-9e8f-6a5b4c3d2e1f' };
  const r = await stack.http('POST', '/api/v1/stream-sessions', { ...json(body), basic: basic('backend') });
  assert.equal(r.status, 201, r.body);
  assertCommonHeaders(r);
  assert.match(r.json.interactionId, /^[0-9a-f-]{36}$/);
  assert.match(r.json.websocketUrl, /^wss:\/\/.*\/interactions\/.*\/streams\?tenant-name=demo$/);
  assert.equal(r.json.scope, 'openid streams');
  assert.equal(typeof r.json.expires_in, 'number');
  assert.equal(decodeJwt(r.json.access_token).payload.scope, 'openid streams');
  const posts = (await stack.cortiRequests()).filter((x) => x.method === 'POST');
  assert.equal(posts.length, 1);
  assert.deepEqual(posts[0].body, body);
  assert.equal(posts[0].headers['tenant-name'], 'demo');
  assert.match(posts[0].headers.authorization, /^Bearer ey/);
  assert.ok(!JSON.stringify(posts[0]).includes(apps.backend.client_secret), 'the app secret reached the API');
});

test('stream-sessions: each upstream error comes back with its status as problem JSON', async () => {
  try {
    for (const [mode, status] of [['error400', 400], ['error403', 403], ['error500', 500], ['error504', 504]]) {
      await stack.cortiMode(mode);
      const r = await stack.http('POST', '/api/v1/stream-sessions', { ...json(ENCOUNTER), basic: basic('backend') });
      assert.equal(r.status, status, `${mode}: ${r.body}`);
      assert.match(r.headers['content-type'], /^application\/problem\+json/);
      const p = JSON.parse(r.body);
      assert.equal(p.status, status);
      assert.equal(p.type, 'about:blank');
      assert.equal(typeof p.title, 'string');
      assert.equal(typeof p.detail, 'string');
      assert.ok(!('access_token' in p));
    }
  } finally {
    await stack.cortiMode('normal');
  }
});

test('stream-sessions: bad JSON, a wrong body, no JSON type, no caller: refused, nothing sent upstream', async () => {
  await stack.cortiReset();
  const bad = await stack.http('POST', '/api/v1/stream-sessions', { headers: { 'content-type': 'application/json' }, body: '{"encounter":', basic: basic('backend') });
  assert.equal(bad.status, 400, bad.body);
  assert.equal(bad.json.error, 'invalid_request');
  const arr = await stack.http('POST', '/api/v1/stream-sessions', { ...json([ENCOUNTER]), basic: basic('backend') });
  assert.equal(arr.status, 400);
  const wrong = await stack.http('POST', '/api/v1/stream-sessions', { ...json({ encounter: { ...ENCOUNTER.encounter, status: 'paused' } }), basic: basic('backend') });
  assert.equal(wrong.status, 400);
  const form = await stack.http('POST', '/api/v1/stream-sessions', { form: { encounter: 'x' }, basic: basic('backend') });
  assert.equal(form.status, 415);
  const anon = await stack.http('POST', '/api/v1/stream-sessions', json(ENCOUNTER));
  assert.equal(anon.status, 401);
  assert.equal(anon.json.error, 'unauthenticated');
  // no Basic challenge where no Basic credential was tried: browsers would prompt for a password
  assert.doesNotMatch(anon.headers['www-authenticate'] || '', /^Basic/);
  const badSecret = await stack.http('POST', '/api/v1/stream-sessions', { ...json(ENCOUNTER), basic: [apps.backend.client_id, 'nope'] });
  assert.equal(badSecret.status, 401);
  assert.equal(badSecret.json.error, 'invalid_client');
  assert.match(badSecret.headers['www-authenticate'] || '', /^Basic realm=/);
  const userApp = await stack.http('POST', '/api/v1/stream-sessions', { ...json(ENCOUNTER), basic: basic('ui') });
  assert.equal(userApp.status, 403);
  assert.equal(userApp.json.error, 'unauthorized_client');
  assert.equal((await stack.cortiRequests()).length, 0, 'a refused request reached the API');
});

test('transcribe-sessions: 201 with a wss URL and an openid transcribe token', async () => {
  const r = await stack.http('POST', '/api/v1/transcribe-sessions', { basic: basic('backend') });
  assert.equal(r.status, 201, r.body);
  assert.match(r.json.websocketUrl, /^wss:\/\/.*\/audio-bridge\/v2\/transcribe\?tenant-name=demo$/);
  assert.equal(r.json.scope, 'openid transcribe');
  assert.ok(r.json.access_token);
  assertCommonHeaders(r);
});

test('proxy: an allowed GET goes through with the daemon\'s bearer and Tenant-Name, never the caller\'s Basic', async () => {
  await stack.cortiReset();
  const r = await stack.http('GET', '/api/v1/proxy/demo/echo?x=1', { basic: basic('backend'), headers: { cookie: 'other=1' } });
  assert.equal(r.status, 200, r.body);
  assertCommonHeaders(r);
  assert.match(r.headers['content-type'], /json/);
  assert.equal(r.json.query?.x ?? new URLSearchParams(r.json.query).get('x'), '1');
  const [req] = await stack.cortiRequests();
  assert.equal(req.path.split('?')[0], '/api/v2/echo');
  assert.match(req.query === undefined ? req.path : JSON.stringify(req.query), /x/);
  assert.match(req.headers.authorization, /^Bearer ey/);
  assert.equal(req.headers['tenant-name'], 'demo');
  assert.equal(req.headers.cookie, undefined, 'the caller\'s cookie was forwarded');
  const blob = JSON.stringify(req);
  assert.ok(!blob.includes(apps.backend.client_secret) && !blob.includes('Basic '), 'the caller\'s credential reached the API');
});

test('proxy: a POST body is relayed; disallowed method or path is 403 with nothing sent; large answers stream', async () => {
  await stack.cortiReset();
  const post = await stack.http('POST', '/api/v1/proxy/demo/echo/x', { basic: basic('backend'), headers: { 'content-type': 'text/plain' }, body: 'hello proxy' });
  assert.equal(post.status, 200, post.body);
  assert.equal(post.json.method, 'POST');
  assert.equal(post.json.bodyLength, 11);
  await stack.cortiReset();
  const del = await stack.http('DELETE', '/api/v1/proxy/demo/interactions/1', { basic: basic('backend') });
  assert.equal(del.status, 403, del.body);
  const path = await stack.http('GET', '/api/v1/proxy/demo/admin/users', { basic: basic('backend') });
  assert.equal(path.status, 403, path.body);
  const other = await stack.http('GET', '/api/v1/proxy/elsewhere/echo', { basic: basic('backend') });
  assert.equal(other.status, 403, other.body);
  const anon = await stack.http('GET', '/api/v1/proxy/demo/echo');
  assert.equal(anon.status, 401);
  assert.equal((await stack.cortiRequests()).length, 0, 'a refused call reached the API');
  // the data plane (nginx) streams answers of any size (issue 9)
  const big = await stack.http('GET', '/api/v1/proxy/demo/large?bytes=100000', { basic: basic('backend') });
  assert.equal(big.status, 200, big.body.slice(0, 200));
  assert.equal(big.raw.length, 100000);
  const small = await stack.http('GET', '/api/v1/proxy/demo/large?bytes=1000', { basic: basic('backend') });
  assert.equal(small.status, 200);
  assert.equal(small.raw.length, 1000);
  assert.match(small.headers['content-security-policy'] || '', /sandbox/);
});

test('ROPC at /oauth2/token: the kiosk app gets a token; wrong password invalid_grant; other apps unauthorized_client', async () => {
  const ok = await stack.http('POST', '/oauth2/token', { form: { grant_type: 'password', username: DANA[0], password: DANA[1], scope: 'transcribe' }, basic: basic('kiosk') });
  assert.equal(ok.status, 200, ok.body);
  assert.equal(ok.json.token_type.toLowerCase(), 'bearer');
  assert.ok(decodeJwt(ok.json.access_token).payload.sub);
  const wrong = await stack.http('POST', '/oauth2/token', { form: { grant_type: 'password', username: DANA[0], password: 'not-her-password', scope: 'transcribe' }, basic: basic('kiosk') });
  assert.equal(wrong.status, 400, wrong.body);
  assert.equal(wrong.json.error, 'invalid_grant');
  const cc = await stack.http('POST', '/oauth2/token', { form: { grant_type: 'password', username: DANA[0], password: DANA[1], scope: 'transcribe' }, basic: basic('backend') });
  assert.equal(cc.status, 400, cc.body);
  assert.equal(cc.json.error, 'unauthorized_client');
});

test('the ROPC password is in no log file of the instance and not in a backup of the database', async () => {
  const needle = Buffer.from(DANA[1]);
  assert.equal(stack.storeBytes().includes(needle), false, 'the password is in the store');
  const files = readdirSync(stack.paths.logDir).map((f) => join(stack.paths.logDir, f));
  for (const f of files) {
    if (/oidc-server|corti/.test(f)) continue; // the upstream's own logs are not ours
    assert.equal(readFileSync(f).includes(needle), false, `the password is in ${f}`);
  }
  const metrics = await stack.http('GET', '/metrics');
  assert.match(metrics.body, /outcome="invalid_grant"\} [1-9]/);
});

test('/login, /callback, /api/v1/session/token and /logout over plain HTTP', async () => {
  const begin = await stack.http('GET', '/login/ui');
  assert.equal(begin.status, 302, begin.body);
  assertCommonHeaders(begin);
  assert.match(begin.headers['content-security-policy'] || '', /frame-ancestors 'none'/);
  assert.equal(begin.headers['referrer-policy'], 'no-referrer');
  const lc = setCookies(begin).find((c) => c.startsWith('fg_login='));
  assert.ok(lc, JSON.stringify(begin.headers));
  assert.match(lc, /Path=\/callback/);
  assert.match(lc, /HttpOnly/);
  assert.match(lc, /SameSite=Lax/);
  assert.match(lc, /Max-Age=600/);
  assert.doesNotMatch(lc, /Secure/, 'Secure over plain HTTP');
  const state = lc.split(';')[0].slice('fg_login='.length);
  const back = await scriptedLogin(begin.headers.location, DANA[0], DANA[1], { caFile: stack.tls.caCert, returnPrefix: `${stack.baseUrl}/callback` });
  assert.ok(back.code, JSON.stringify(back));
  const u = new URL(back.url);
  // without the browser's state cookie: refused
  const noCookie = await stack.http('GET', `/callback${u.search}`);
  assert.equal(noCookie.status, 400, noCookie.body);
  assert.match(noCookie.headers['content-type'], /text\/html/);
  const cb = await stack.http('GET', `/callback${u.search}`, { headers: { cookie: `fg_login=${state}` } });
  assert.equal(cb.status, 302, cb.body);
  assert.equal(cb.headers.location, `${stack.baseUrl}/healthz`);
  const uc = setCookies(cb).find((c) => c.startsWith('fg_user='));
  assert.ok(uc);
  assert.match(uc, /Path=\//);
  assert.match(uc, /HttpOnly/);
  assert.match(uc, /SameSite=Lax/);
  assert.ok(setCookies(cb).some((c) => /^fg_login=;.*Max-Age=0/.test(c)), 'fg_login not cleared');
  const cookie = uc.split(';')[0];
  // a replay of the same callback
  const replay = await stack.http('GET', `/callback${u.search}`, { headers: { cookie: `fg_login=${state}` } });
  assert.equal(replay.status, 400);
  // the token: CSRF header required
  const noCsrf = await stack.http('POST', '/api/v1/session/token', { headers: { cookie }, form: { scope: 'streams' } });
  assert.equal(noCsrf.status, 403, noCsrf.body);
  const tok = await stack.http('POST', '/api/v1/session/token', { headers: { cookie, 'x-requested-with': 'fetch' }, form: { scope: 'streams' } });
  assert.equal(tok.status, 200, tok.body);
  assert.equal(tok.json.scope, 'openid streams');
  assert.match(tok.headers['cache-control'], /no-store/);
  const broad = await stack.http('POST', '/api/v1/session/token', { ...json({ scope: 'interactions' }, { cookie }) });
  assert.equal(broad.status, 400);
  assert.equal(broad.json.error, 'invalid_scope');
  const dflt = await stack.http('POST', '/api/v1/session/token', { headers: { cookie, 'x-requested-with': 'fetch' } });
  assert.equal(dflt.status, 200, dflt.body);
  // a user's stream session through the cookie
  const st = await stack.http('POST', '/api/v1/stream-sessions', json(ENCOUNTER, { cookie }));
  assert.equal(st.status, 201, st.body);
  // a proxy call with the cookie needs X-Requested-With
  const px = await stack.http('GET', '/api/v1/proxy/demo/echo', { headers: { cookie } });
  assert.equal(px.status, 403);
  // logout: GET changes nothing, POST ends the session
  const page = await stack.http('GET', '/logout', { headers: { cookie } });
  assert.equal(page.status, 200);
  assert.match(page.body, /<form method="post" action="\/logout">/);
  const still = await stack.http('POST', '/api/v1/session/token', { headers: { cookie, 'x-requested-with': 'fetch' } });
  assert.equal(still.status, 200, 'GET /logout ended the session');
  const out = await stack.http('POST', '/logout', { headers: { cookie } });
  assert.equal(out.status, 302);
  assert.equal(out.headers.location, '/');
  assert.ok(setCookies(out).some((c) => /^fg_user=;.*Max-Age=0/.test(c)));
  const after = await stack.http('POST', '/api/v1/session/token', { headers: { cookie, 'x-requested-with': 'fetch' } });
  assert.equal(after.status, 401, after.body);
  assert.equal(after.json.error, 'unauthenticated');
});

test('the IdP\'s error and hand-made callbacks: 400 pages, escaped; bad app names 404; wrong methods 405', async () => {
  const err = await stack.http('GET', '/callback?error=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state=x');
  assert.equal(err.status, 400);
  assert.ok(!err.body.includes('<script>'), 'the IdP error was not escaped');
  assert.match(err.body, /&lt;script&gt;/);
  assert.match(err.headers['content-security-policy'], /default-src 'none'/);
  assert.equal(err.headers['x-frame-options'], 'DENY');
  const made = await stack.http('GET', '/callback?code=x&state=y', { headers: { cookie: 'fg_login=z' } });
  assert.equal(made.status, 400);
  assert.equal((await stack.http('GET', '/login/backend')).status, 404);
  assert.equal((await stack.http('GET', '/login/No%20Such')).status, 404);
  assert.equal((await stack.http('POST', '/login/ui')).status, 405);
  assert.equal((await stack.http('GET', '/api/v1/stream-sessions')).status, 405);
  assert.equal((await stack.http('GET', '/api/v1/nothing')).status, 404);
});
