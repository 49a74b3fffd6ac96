// Issue 4 at the daemon: Authorization Code + PKCE logins, user-session tokens, stream and
// transcribe sessions against the Corti stand-in, the backend proxy, and gated ROPC.  Requests
// come from the web user's socket (the front end's routes are tested through nginx elsewhere);
// the user's login at the OIDC server is scripted over HTTPS.
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, useStack } from '../lib/runner.mjs';
import { asWeb, web } from '../lib/web.mjs';
import { scriptedLogin } from '../lib/oidc-login.mjs';
import { decodeJwt } from '../lib/util.mjs';

const DANA = ['dana', 'dana-password-1'];
const stack = useStack({
  cortiApi: true,
  oidcUsers: [DANA],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token', 'password'] },
});
const apps = {};
let session;

const ENCOUNTER = { encounter: { identifier: 'enc-1', status: 'planned', type: 'consultation', title: 'Check-up' } };

async function addApp(name, args) {
  const r = await stack.ctl(['--json', 'app', 'add', name, '--connection', 'demo', ...args]);
  apps[name] = JSON.parse(r.stdout);
  return apps[name];
}

async function login(user = DANA) {
  const begin = web(stack, { verb: 'login.begin', app: 'ui', remote: '127.0.0.5' });
  assert.equal(begin.ok, true, JSON.stringify(begin));
  const back = await scriptedLogin(begin.authorize_url, user[0], user[1],
    { caFile: stack.tls.caCert, returnPrefix: `${stack.baseUrl}/callback` });
  return { begin, back };
}

async function audit(n = 200) {
  return JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', String(n)])).stdout).records;
}

test('setup: a user-facing PKCE app, a backend with proxy rules, an internal ROPC app', async () => {
  await addApp('ui', ['--flow', 'authorization_code_pkce', '--kind', 'user_facing', '--scopes', 'transcribe streams',
    '--redirect-uri', `${stack.baseUrl}/callback`, '--return-url', `${stack.baseUrl}/app/`]);
  await addApp('backend', ['--flow', 'client_credentials', '--kind', 'backend', '--scopes', 'transcribe streams interactions',
    '--proxy-methods', 'GET POST', '--proxy-paths', '/interactions/ /echo /large /slow']);
  await addApp('kiosk', ['--flow', 'ropc', '--kind', 'user_facing', '--scopes', 'transcribe', '--internal', '--no-redirect',
    '--justification', 'Shop-floor terminal without a browser; replacement planned for Q3.']);
  for (const a of ['ui', 'backend', 'kiosk']) assert.equal(apps[a].ok, true, JSON.stringify(apps[a]));
  const noRedirect = await stack.ctl(['app', 'add', 'ui2', '--connection', 'demo', '--flow', 'authorization_code_pkce',
    '--kind', 'user_facing', '--scopes', 'streams'], { expect: null });
  assert.equal(noRedirect.code, 1, 'a code-flow app without a redirect URI was registered');
});

test('login.begin: S256 PKCE, state and nonce, the app\'s redirect URI', () => {
  const b = web(stack, { verb: 'login.begin', app: 'ui' });
  const u = new URL(b.authorize_url);
  assert.equal(u.pathname, '/realms/demo/protocol/openid-connect/auth');
  assert.equal(u.searchParams.get('code_challenge_method'), 'S256');
  assert.match(u.searchParams.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
  assert.equal(u.searchParams.get('redirect_uri'), `${stack.baseUrl}/callback`);
  assert.equal(u.searchParams.get('state'), b.state);
  assert.ok(u.searchParams.get('nonce'));
  assert.equal(web(stack, { verb: 'login.begin', app: 'backend' }).error, 'not_found', 'a backend app has no user login');
});

test('a callback whose state does not match the browser\'s cookie is refused; the right one logs in', async () => {
  const { begin, back } = await login();
  assert.ok(back.code, JSON.stringify(back));
  const wrong = web(stack, { verb: 'login.callback', code: back.code, state: back.state, state_cookie: 'x'.repeat(43) });
  assert.equal(wrong.error, 'invalid_state');
  const ok = web(stack, { verb: 'login.callback', code: back.code, state: back.state, state_cookie: begin.state, remote: '127.0.0.5' });
  assert.equal(ok.ok, true, JSON.stringify(ok));
  assert.equal(ok.user, 'dana');
  assert.equal(ok.return_url, `${stack.baseUrl}/app/`);
  session = ok.session;
  const replay = web(stack, { verb: 'login.callback', code: back.code, state: back.state, state_cookie: begin.state });
  assert.equal(replay.error, 'invalid_state', 'a state was accepted twice');
  const rec = (await audit()).find((r) => r.event === 'user.login' && r.outcome === 'ok');
  assert.equal(rec.actor, 'oidc:dana');
});

test('a replayed code under a fresh login is refused by the upstream', async () => {
  const first = await login();
  assert.equal(web(stack, { verb: 'login.callback', code: first.back.code, state: first.back.state, state_cookie: first.begin.state }).ok, true);
  const second = web(stack, { verb: 'login.begin', app: 'ui' });
  const r = web(stack, { verb: 'login.callback', code: first.back.code, state: second.state, state_cookie: second.state });
  assert.equal(r.error, 'login_failed', JSON.stringify(r));
});

test('enduser.token: exactly the asked limited scope, attributed to the user; broad scopes refused', async () => {
  const [t, again, broad] = asWeb(stack, [
    { verb: 'enduser.token', session, scope: 'streams' },
    { verb: 'enduser.token', session, scope: 'streams' },
    { verb: 'enduser.token', session, scope: 'interactions' },
  ]);
  assert.equal(t.scope, 'openid streams', JSON.stringify(t));
  assert.equal(decodeJwt(t.access_token).payload.scope, 'openid streams', 'the JWT holds more than asked');
  assert.equal(again.access_token, t.access_token, 'the second one should come from the session cache');
  assert.equal(broad.error, 'invalid_scope');
  const issued = (await audit()).filter((r) => r.event === 'token.issue' && r.app === 'ui');
  assert.ok(issued.length >= 2 && issued.every((r) => r.actor === 'oidc:dana'), JSON.stringify(issued));
  assert.ok(issued.some((r) => /source=upstream grant=refresh_token/.test(r.detail)));
});

test('no session or a made-up one: unauthenticated', () => {
  assert.equal(web(stack, { verb: 'enduser.token', session: 'y'.repeat(43) }).error, 'unauthenticated');
});

test('a grant revoked upstream ends the session at the next refresh', async () => {
  const mine = await login();
  const s = web(stack, { verb: 'login.callback', code: mine.back.code, state: mine.back.state, state_cookie: mine.begin.state });
  await stack.upstreamLogoutUser('dana');
  const r = web(stack, { verb: 'enduser.token', session: s.session, scope: 'transcribe' });
  assert.equal(r.error, 'unauthenticated', JSON.stringify(r));
  assert.equal(web(stack, { verb: 'enduser.token', session: s.session, scope: 'streams' }).error, 'unauthenticated');
});

test('logout ends the session and revokes its refresh token upstream', async () => {
  const mine = await login();
  const s = web(stack, { verb: 'login.callback', code: mine.back.code, state: mine.back.state, state_cookie: mine.begin.state });
  const before = (await stack.upstreamStats()).revocations || 0;
  assert.equal(web(stack, { verb: 'enduser.logout', session: s.session }).ok, true);
  assert.equal(web(stack, { verb: 'enduser.token', session: s.session }).error, 'unauthenticated');
  for (let i = 0; i < 50 && ((await stack.upstreamStats()).revocations || 0) === before; i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(((await stack.upstreamStats()).revocations || 0) > before, 'no revocation reached the upstream');
  // a fresh session for the tests below
  const again = await login();
  session = web(stack, { verb: 'login.callback', code: again.back.code, state: again.back.state, state_cookie: again.begin.state }).session;
});

const backendCred = () => ({ client_id: apps.backend.client_id, client_secret: apps.backend.client_secret });

test('stream session from a backend: interaction created with Authorization and Tenant-Name; streams-only token', async () => {
  await stack.cortiReset();
  const r = web(stack, { verb: 'stream.create', ...backendCred(), body: { ...ENCOUNTER, assignedUserId: '0f8c2b7e-1d2a-4c3b-9e8f-6a5b4c3d2e1f' } });
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.match(r.interactionId, /^[0-9a-f-]{36}$/);
  assert.match(r.websocketUrl, /^wss:\/\/127\.0\.0\.1:\d+\/api\/v2\/interactions\/[0-9a-f-]+\/streams\?tenant-name=demo$/);
  assert.equal(r.scope, 'openid streams');
  assert.equal(decodeJwt(r.access_token).payload.scope, 'openid streams');
  const [req] = (await stack.cortiRequests()).filter((x) => x.method === 'POST');
  assert.equal(req.headers['tenant-name'], 'demo');
  assert.match(req.headers.authorization, /^Bearer ey/);
  assert.equal(decodeJwt(req.headers.authorization.slice(7)).payload.scope, 'openid streams');
  assert.deepEqual(req.body, { ...ENCOUNTER, assignedUserId: '0f8c2b7e-1d2a-4c3b-9e8f-6a5b4c3d2e1f' });
});

test('stream session for a logged-in user, attributed to the user', async () => {
  const r = web(stack, { verb: 'stream.create', session, body: ENCOUNTER });
  assert.equal(r.ok, true, JSON.stringify(r));
  const rec = (await audit()).reverse().find((x) => x.event === 'stream.create');
  assert.equal(rec.actor, 'oidc:dana');
  assert.match(rec.detail, /^interaction=/);
});

test('a bad body is refused before anything is sent', async () => {
  await stack.cortiReset();
  for (const body of [{}, { encounter: { ...ENCOUNTER.encounter, status: 'paused' } }, { ...ENCOUNTER, tenant: 'x' }]) {
    assert.equal(web(stack, { verb: 'stream.create', ...backendCred(), body }).error, 'invalid_request', JSON.stringify(body));
  }
  assert.equal((await stack.cortiRequests()).length, 0, 'a refused body reached the API');
});

test('upstream problem JSON (400, 403, 500, 504) and a timeout come back as clear errors', async () => {
  for (const [mode, status] of [['error400', 400], ['error403', 403], ['error500', 500], ['error504', 504]]) {
    await stack.cortiMode(mode);
    const r = web(stack, { verb: 'stream.create', ...backendCred(), body: ENCOUNTER });
    assert.equal(r.error, 'upstream_error', JSON.stringify(r));
    assert.equal(r.status, status);
    assert.ok(!('access_token' in r), 'a token left with a failed session');
  }
  await stack.cortiMode('slow', 6000);
  const slow = web(stack, { verb: 'stream.create', ...backendCred(), body: ENCOUNTER });
  assert.equal(slow.error, 'upstream_timeout', JSON.stringify(slow));
  await stack.cortiMode('normal');
});

test('only client-credentials apps open sessions with their own credential', () => {
  const r = web(stack, { verb: 'stream.create', client_id: apps.ui.client_id, client_secret: apps.ui.client_secret, body: ENCOUNTER });
  assert.equal(r.error, 'unauthorized_client');
  assert.equal(web(stack, { verb: 'stream.create', client_id: apps.backend.client_id, client_secret: 'nope', body: ENCOUNTER }).error, 'invalid_client');
});

test('transcribe session: an openid transcribe token and the /transcribe WebSocket URL', () => {
  const r = web(stack, { verb: 'transcribe.create', ...backendCred() });
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.match(r.websocketUrl, /^wss:\/\/127\.0\.0\.1:\d+\/audio-bridge\/v2\/transcribe\?tenant-name=demo$/);
  assert.equal(r.scope, 'openid transcribe');
});

test('proxy: an allowed call goes through with the daemon\'s token, never the caller\'s credential', async () => {
  await stack.cortiReset();
  const r = web(stack, { verb: 'proxy', ...backendCred(), connection: 'demo', method: 'GET', path: '/echo/x', query: 'a=1' });
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal(r.status, 200);
  const [req] = await stack.cortiRequests();
  assert.equal(req.path.split('?')[0], '/api/v2/echo/x');
  assert.equal(req.headers['tenant-name'], 'demo');
  assert.match(req.headers.authorization, /^Bearer ey/);
  assert.ok(!JSON.stringify(req).includes(apps.backend.client_secret), 'the caller\'s secret reached the upstream');
});

test('proxy: a method or path outside the rule is refused before anything is sent', async () => {
  await stack.cortiReset();
  const [del, admin, dots, other] = asWeb(stack, [
    { verb: 'proxy', ...backendCred(), connection: 'demo', method: 'DELETE', path: '/interactions/1' },
    { verb: 'proxy', ...backendCred(), connection: 'demo', method: 'GET', path: '/admin/users' },
    { verb: 'proxy', ...backendCred(), connection: 'demo', method: 'GET', path: '/interactions/../admin' },
    { verb: 'proxy', ...backendCred(), connection: 'elsewhere', method: 'GET', path: '/echo' },
  ]);
  assert.equal(del.error, 'forbidden');
  assert.equal(admin.error, 'forbidden');
  assert.equal(dots.error, 'invalid_request');
  assert.equal(other.error, 'forbidden');
  assert.equal((await stack.cortiRequests()).length, 0);
});

test('proxy: large and slow answers are bounded', () => {
  const big = web(stack, { verb: 'proxy', ...backendCred(), connection: 'demo', method: 'GET', path: '/large', query: 'bytes=100000' });
  assert.equal(big.error, 'upstream_error', JSON.stringify(big).slice(0, 200));
  assert.equal(big.status, 502);
  const small = web(stack, { verb: 'proxy', ...backendCred(), connection: 'demo', method: 'GET', path: '/large', query: 'bytes=1000' });
  assert.equal(Buffer.from(small.body_b64, 'base64').length, 1000);
  const slow = web(stack, { verb: 'proxy', ...backendCred(), connection: 'demo', method: 'GET', path: '/slow', query: 'ms=6000' });
  assert.equal(slow.error, 'upstream_timeout', JSON.stringify(slow));
});

const ropc = (app, password, extra = {}) => web(stack, { verb: 'token', client_id: apps[app].client_id,
  client_secret: apps[app].client_secret, grant_type: 'password', username: 'dana', password, scope: 'transcribe', ...extra });

test('ROPC: the internal app gets a token for the user; a wrong password is invalid_grant', async () => {
  const t = ropc('kiosk', DANA[1]);
  assert.equal(t.ok, true, JSON.stringify(t));
  assert.equal(decodeJwt(t.access_token).payload.sub !== undefined, true);
  assert.equal(ropc('kiosk', 'not-her-password').error, 'invalid_grant');
  assert.equal(ropc('backend', DANA[1]).error, 'unauthorized_client', 'a client-credentials app used ROPC');
  const rec = (await audit()).filter((r) => r.app === 'kiosk');
  assert.ok(rec.some((r) => r.outcome === 'issued' && /grant=password user=dana/.test(r.detail)), JSON.stringify(rec));
});

test('the ROPC password is nowhere: logs, audit, database', async () => {
  const needle = Buffer.from(DANA[1]);
  assert.equal(stack.storeBytes().includes(needle), false, 'the password is in the store');
  for (const f of readdirSync(stack.paths.logDir).map((x) => join(stack.paths.logDir, x))) {
    if (/oidc-server|corti/.test(f)) continue;	// the upstream's own logs are not ours
    assert.equal(readFileSync(f).includes(needle), false, `the password is in ${f}`);
  }
  const recs = await audit(1000);
  assert.ok(recs.length > 0);
  assert.equal(JSON.stringify(recs).includes(DANA[1]), false);
});
