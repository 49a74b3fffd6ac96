// Issue 10: end users' sessions survive a daemon restart (stored sealed, found by a keyed hash
// of the cookie); logout deletes the row and revokes upstream; the database holds no refresh
// token or session id in clear.  The embedded Assistant's credentials: the user's whole token
// set, for apps of kind assistant only, refreshed once however many tabs ask.
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { waitFor, sleep } from '../lib/stack.mjs';
import { decodeJwt } from '../lib/util.mjs';
import { userLogin } from '../lib/oidc-login.mjs';

const DANA = ['dana', 'dana-password-1'];
const stack = useStack({
  oidcUsers: [DANA],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token'] },
});
const xhr = (cookie) => ({ headers: { cookie, 'x-requested-with': 'fetch' } });
let cookie;

/** Log DANA in to app name through the real login routes; the fg_user cookie. */
const login = (name) => userLogin(stack, name, DANA[0], DANA[1]);

/** Rows of the user_sessions table (the daemon is stopped: SQLite's file is locked while it runs). */
function rows() {
  const out = stack.sql('SELECT id, username, refresh_gen, length(refresh) FROM user_sessions');
  return out ? out.split('\n').map((l) => l.split('|')) : [];
}

/** Every byte the store keeps, as one buffer. */
const dbBytes = () => stack.storeBytes();

test('setup: a user-facing PKCE app; a user logs in and gets a token; the row is stored sealed', async () => {
  const r = await stack.ctl(['--json', 'app', 'add', 'ui', '--connection', 'demo', '--flow', 'authorization_code_pkce',
    '--kind', 'user_facing', '--scopes', 'transcribe streams', '--redirect-uri', `${stack.baseUrl}/callback`,
    '--return-url', `${stack.baseUrl}/healthz`]);
  assert.ok(JSON.parse(r.stdout).client_id, r.stdout);
  cookie = await login('ui');
  const tok = await stack.http('POST', '/api/v1/session/token', xhr(cookie));
  assert.equal(tok.status, 200, tok.body);
  await stack.killDaemon('SIGTERM');
  const rs = rows();
  assert.equal(rs.length, 1, JSON.stringify(rs));
  assert.equal(rs[0][1], 'dana');
  assert.ok(Number(rs[0][2]) >= 2, `the rotated refresh token was not stored (gen ${rs[0][2]})`);
  const sid = cookie.slice('fg_user='.length);
  assert.equal(dbBytes().indexOf(Buffer.from(sid)), -1, 'the session id is in the database in clear');
  await stack.startDaemon();
});

test('a daemon crash and restart keep the user logged in; the stored refresh token still works', async () => {
  await stack.killDaemon('SIGKILL');
  await stack.startDaemon();
  const tok = await stack.http('POST', '/api/v1/session/token', { ...xhr(cookie), form: { scope: 'transcribe' } });
  assert.equal(tok.status, 200, tok.body);
  assert.equal(tok.json.scope, 'openid transcribe');
  await stack.killDaemon('SIGTERM');
  await stack.startDaemon();
  const again = await stack.http('POST', '/api/v1/session/token', { ...xhr(cookie), form: { scope: 'streams' } });
  assert.equal(again.status, 200, again.body);
});

test('a made-up or altered cookie finds no session after a restart', async () => {
  const other = await stack.http('POST', '/api/v1/session/token', xhr(`fg_user=${'A'.repeat(43)}`));
  assert.equal(other.status, 401, other.body);
  const flipped = cookie.slice(0, -1) + (cookie.endsWith('A') ? 'B' : 'A');
  assert.equal((await stack.http('POST', '/api/v1/session/token', xhr(flipped))).status, 401);
});

test('logout deletes the row and revokes upstream; a restart does not bring the session back', async () => {
  await stack.upstreamReset();
  const out = await stack.http('POST', '/logout', { headers: { cookie } });
  assert.equal(out.status, 302);
  await waitFor(async () => (await stack.upstreamStats()).revocations >= 1, { timeoutMs: 5000, what: 'the upstream revocation' });
  await stack.killDaemon('SIGKILL');
  assert.equal(rows().length, 0, 'the session row outlived the logout');
  await stack.startDaemon();
  const after = await stack.http('POST', '/api/v1/session/token', xhr(cookie));
  assert.equal(after.status, 401, after.body);
});

test('a logout before the issuer\'s document is fetched again (a start while it failed) still revokes upstream', async () => {
  const c = await login('ui');
  await stack.upstreamRequest('POST', '/_control/discovery', { mode: 'error500' });
  try {
    await stack.killDaemon('SIGTERM');
    await stack.startDaemon();	// its warm-up fetch of the document fails
  } finally {
    await stack.upstreamRequest('POST', '/_control/discovery', { mode: 'normal' });
  }
  await stack.upstreamReset();
  assert.equal((await stack.http('POST', '/logout', { headers: { cookie: c } })).status, 302);
  await waitFor(async () => (await stack.upstreamStats()).revocations >= 1,
    { timeoutMs: 5000, what: 'the upstream revocation, after the document was fetched' });
});

const creds = (c) => stack.http('POST', '/api/v1/session/assistant-credentials', xhr(c));
let acookie;

test('assistant credentials: the user\'s four tokens for an assistant app; CSRF and kind enforced', async () => {
  const r = await stack.ctl(['--json', 'app', 'add', 'embed', '--connection', 'demo', '--flow', 'authorization_code_pkce',
    '--kind', 'assistant', '--scopes', 'transcribe streams', '--redirect-uri', `${stack.baseUrl}/callback`,
    '--return-url', `${stack.baseUrl}/healthz`]);
  assert.ok(JSON.parse(r.stdout).client_id, r.stdout);
  acookie = await login('embed');
  const noCsrf = await stack.http('POST', '/api/v1/session/assistant-credentials', { headers: { cookie: acookie } });
  assert.equal(noCsrf.status, 403, noCsrf.body);
  const c = await creds(acookie);
  assert.equal(c.status, 200, c.body);
  assert.match(c.headers['cache-control'], /no-store/);
  assert.deepEqual(Object.keys(c.json).sort(), ['access_token', 'expires_in', 'id_token', 'refresh_token', 'scope', 'token_type']);
  assert.equal(c.json.token_type, 'Bearer');
  const id = decodeJwt(c.json.id_token).payload;
  assert.equal(id.email, 'dana@example.test');
  assert.equal(decodeJwt(c.json.access_token).payload.sub, id.sub);
  // a user-facing app's session may not have them
  const ui = await login('ui');
  const refused = await creds(ui);
  assert.equal(refused.status, 403, refused.body);
  assert.equal(refused.json.error, 'unauthorized_client');
  assert.equal((await creds('fg_user=' + 'B'.repeat(43))).status, 401);
});

test('assistant credentials: many tabs at once get one set from one upstream refresh; each hand-out audited', async () => {
  await stack.upstreamTtls({ ttl: 6 });
  await stack.upstreamReset();
  await stack.killDaemon('SIGTERM');	// forget the set in memory: the next ask must refresh
  await stack.startDaemon();
  const all = await Promise.all([1, 2, 3, 4, 5].map(() => creds(acookie)));
  for (const a of all) assert.equal(a.status, 200, a.body);
  assert.equal(new Set(all.map((a) => a.json.access_token)).size, 1, 'tabs got different sets');
  const stats = await stack.upstreamStats();
  assert.equal(stats.by_grant.refresh_token, 1, JSON.stringify(stats));
  const audit = (await stack.ctl(['audit', 'tail', '-n', '50'], { json: true })).json?.records || [];
  const issued = audit.filter((x) => x.event === 'token.issue' && /for=assistant-credentials/.test(x.detail || ''));
  assert.ok(issued.length >= 5, JSON.stringify(audit.slice(-6)));
  assert.ok(issued.every((x) => x.actor === 'oidc:dana'), JSON.stringify(issued[0]));
});

test('assistant credentials: near expiry a new set with a rotated refresh token; none in the database in clear', async () => {
  const first = await creds(acookie);
  await sleep(3000);	// past 40% of a 6 s life: the next ask refreshes
  const second = await creds(acookie);
  assert.equal(second.status, 200, second.body);
  assert.notEqual(second.json.access_token, first.json.access_token);
  assert.notEqual(second.json.refresh_token, first.json.refresh_token, 'the refresh token was not rotated');
  await stack.upstreamTtls({ ttl: 300 });
  // the database holds neither refresh token in clear
  await stack.killDaemon('SIGTERM');
  const bytes = dbBytes();
  for (const t of [first.json.refresh_token, second.json.refresh_token, second.json.access_token]) {
    assert.equal(bytes.indexOf(Buffer.from(t)), -1, 'a token is in the database in clear');
  }
  await stack.startDaemon();
  const after = await creds(acookie);
  assert.equal(after.status, 200, after.body);
});
