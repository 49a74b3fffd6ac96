// Issue 10: end users' sessions survive a daemon restart (stored sealed, found by a keyed hash
// of the cookie); logout deletes the row and revokes upstream; the database holds no refresh
// token or session id in clear.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { test, useStack } from '../lib/runner.mjs';
import { waitFor } from '../lib/stack.mjs';
import { scriptedLogin } from '../lib/oidc-login.mjs';

const DANA = ['dana', 'dana-password-1'];
const stack = useStack({
  oidcUsers: [DANA],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token'] },
});
const setCookies = (r) => [].concat(r.headers['set-cookie'] || []);
const xhr = (cookie) => ({ headers: { cookie, 'x-requested-with': 'fetch' } });
let cookie;

/** Log DANA in to app name; returns the fg_user cookie ("fg_user=..."). */
async function login(name) {
  const begin = await stack.http('GET', `/login/${name}`);
  assert.equal(begin.status, 302, begin.body);
  const state = setCookies(begin).find((c) => c.startsWith('fg_login=')).split(';')[0].slice(9);
  const back = await scriptedLogin(begin.headers.location, DANA[0], DANA[1],
    { caFile: stack.tls.caCert, returnPrefix: `${stack.baseUrl}/callback` });
  const u = new URL(back.url);
  const cb = await stack.http('GET', `/callback${u.search}`, { headers: { cookie: `fg_login=${state}` } });
  assert.equal(cb.status, 302, cb.body);
  return setCookies(cb).find((c) => c.startsWith('fg_user=')).split(';')[0];
}

/** Rows of the user_sessions table (sqlite3 CLI; the daemon is stopped: it locks the file). */
function rows() {
  const out = execFileSync('sqlite3', ['-readonly', stack.paths.database,
    'SELECT id, username, refresh_gen, length(refresh) FROM user_sessions'], { encoding: 'utf8' });
  return out.trim() ? out.trim().split('\n').map((l) => l.split('|')) : [];
}

/** Every database file's bytes, as one buffer. */
function dbBytes() {
  const p = stack.paths;
  return Buffer.concat([p.database, p.databaseWal, p.databaseShm].filter(existsSync).map((f) => readFileSync(f)));
}

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
