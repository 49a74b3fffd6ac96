// Issue 10: end users' sessions listed per app and per user (flowgatectl user-session, the admin
// UI's /admin/sessions) and revoked one at a time or all of a user's: the browser's next call
// fails at once, others' sessions go on, the refresh token is revoked at the upstream
// (introspection says inactive), every step is audited, auditors cannot revoke, and nothing
// listed lets anyone act as the user.  An upstream that is down does not undo a revocation;
// sessions that time out are revoked upstream by the daemon's sweep.
import assert from 'node:assert/strict';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { test, useStack } from '../lib/runner.mjs';
import { waitFor } from '../lib/stack.mjs';
import { basicAuth } from '../lib/util.mjs';
import { userLogin } from '../lib/oidc-login.mjs';
import { httpLogin } from '../lib/browser.mjs';

const DANA = ['dana', 'dana-password-1'];
const ERIN = ['erin', 'erin-password-2'];
const PW = { sam: 'sam-battery-staple-22', audrey: 'audrey-reads-only-333' };
const stack = useStack({
  oidcUsers: [DANA, ERIN],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token'] },
});
const xhr = (cookie) => ({ headers: { cookie, 'x-requested-with': 'fetch' } });
const creds = (cookie) => stack.http('POST', '/api/v1/session/assistant-credentials', xhr(cookie));
const s = {};	// browsers: {cookie, refresh}

/** A browser of user at app: its cookie and, for the Assistant, the refresh token it was given. */
async function browser(app, user) {
  const cookie = await userLogin(stack, app, ...user);
  const c = await creds(cookie);
  if (app === 'embed') assert.equal(c.status, 200, c.body);
  return { cookie, refresh: c.json && c.json.refresh_token };
}

/** Whether the upstream still takes refresh token t (RFC 7662 introspection, the connection's client). */
function active(t) {
  const body = new URLSearchParams({ token: t, token_type_hint: 'refresh_token' }).toString();
  return new Promise((resolve, reject) => {
    const req = https.request(`${stack.upstream.issuer}/protocol/openid-connect/token/introspect`, {
      method: 'POST', ca: readFileSync(stack.tls.caCert), agent: false,
      headers: { authorization: basicAuth(stack.upstream.clientId, stack.connectionSecret),
        'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) },
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(new Error(`introspection: ${res.statusCode} ${text}`));
        else resolve(JSON.parse(text).active === true);
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function list(...args) {
  const r = await stack.ctl(['--json', 'user-session', 'list', ...args]);
  return { text: r.stdout, rows: JSON.parse(r.stdout).sessions };
}

async function audit(n = 300) {
  return JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', String(n)])).stdout).records;
}

const idOf = async (user, app) => (await list('--user', user, '--app', app)).rows.map((r) => r.id);

/** Nothing a browser holds (its session id, its tokens) appears in text. */
function assertNoSecrets(text, what) {
  for (const b of Object.values(s)) {
    assert.equal(text.includes(b.cookie.slice('fg_user='.length)), false, `${what} shows a session id`);
    if (b.refresh) assert.equal(text.includes(b.refresh), false, `${what} shows a refresh token`);
  }
}

test('setup: a PKCE app and an Assistant app; dana logs in three times, erin once', async () => {
  for (const [name, kind] of [['ui', 'user_facing'], ['embed', 'assistant']]) {
    const r = await stack.ctl(['--json', 'app', 'add', name, '--connection', 'demo', '--flow', 'authorization_code_pkce',
      '--kind', kind, '--scopes', 'transcribe streams', '--redirect-uri', `${stack.baseUrl}/callback`,
      '--return-url', `${stack.baseUrl}/healthz`]);
    assert.ok(JSON.parse(r.stdout).client_id, r.stdout);
  }
  await stack.addUser('sam', 'security', PW.sam);
  await stack.addUser('audrey', 'auditor', PW.audrey);
  s.d1 = await browser('embed', DANA);
  s.d2 = await browser('embed', DANA);
  s.d3 = await browser('ui', DANA);
  s.e1 = await browser('embed', ERIN);
  for (const k of ['d1', 'd2', 'e1']) assert.equal(await active(s[k].refresh), true, `${k}'s refresh token is live upstream`);
});

test('list by app and by user: ids, users, apps and times, never a session id or a token', async () => {
  const byApp = await list('--app', 'embed');
  assert.deepEqual(byApp.rows.map((r) => r.username).sort(), ['dana', 'dana', 'erin']);
  assert.deepEqual(Object.keys(byApp.rows[0]).sort(),
    ['app', 'created_at', 'expires_at', 'id', 'idle_expires_at', 'last_used_at', 'sub', 'username']);
  const r0 = byApp.rows[0];
  assert.ok(r0.created_at <= r0.last_used_at && r0.last_used_at < r0.idle_expires_at, JSON.stringify(r0));
  assert.match(r0.sub, /\S/);
  const byUser = await list('--user', 'dana');
  assert.deepEqual(byUser.rows.map((r) => r.app).sort(), ['embed', 'embed', 'ui']);
  const bySub = await list('--user', r0.sub);
  assert.ok(bySub.rows.every((r) => r.sub === r0.sub) && bySub.rows.length >= 1);
  assert.equal((await list('--app', 'ui', '--user', 'erin')).rows.length, 0);
  assertNoSecrets(byApp.text + byUser.text, 'flowgatectl user-session list');
  const audrey = await httpLogin(stack, 'audrey', PW.audrey);
  const html = await stack.http('GET', '/admin/sessions?app=embed', { headers: { cookie: audrey.cookie } });
  assert.equal(html.status, 200, html.body);
  assert.equal((html.body.match(/<tr data-session="/g) || []).length, 3);
  assertNoSecrets(html.body, 'the User sessions page');
  assert.match(html.body, /id="role-note"/, 'an auditor is told who may revoke');
  assert.doesNotMatch(html.body, /\/revoke"/, 'an auditor is shown a revoke form');
});

test('an auditor cannot revoke (403), and the session goes on', async () => {
  const [id] = await idOf('dana', 'ui');
  const audrey = await httpLogin(stack, 'audrey', PW.audrey);
  const one = await stack.http('POST', `/admin/sessions/${id}/revoke`, { headers: { cookie: audrey.cookie }, form: { csrf: audrey.csrf } });
  assert.equal(one.status, 403, one.body);
  const all = await stack.http('POST', '/admin/sessions/revoke-all', { headers: { cookie: audrey.cookie }, form: { csrf: audrey.csrf, user: 'dana' } });
  assert.equal(all.status, 403, all.body);
  assert.equal((await list('--user', 'dana')).rows.length, 3);
  const refused = (await audit(20)).filter((r) => r.event === 'admin.refuse' && r.actor === 'user:audrey');
  assert.deepEqual(refused.map((r) => r.detail).sort(), ['user_session.revoke', 'user_session.revoke_all']);
});

test('revoke one (security, admin UI): that browser fails at once, the others go on, upstream revoked', async () => {
  await stack.upstreamReset();
  const [id1] = (await list('--user', 'dana', '--app', 'embed')).rows.map((r) => r.id);
  const d1row = (await list('--app', 'embed')).rows.find((r) => r.id === id1);	// d1: ids grow
  const sam = await httpLogin(stack, 'sam', PW.sam);
  const noCsrf = await stack.http('POST', `/admin/sessions/${id1}/revoke`, { headers: { cookie: sam.cookie }, form: {} });
  assert.equal(noCsrf.status, 403, 'revoked without the CSRF token');
  const r = await stack.http('POST', `/admin/sessions/${id1}/revoke`, { headers: { cookie: sam.cookie }, form: { csrf: sam.csrf, app: 'embed' } });
  assert.equal(r.status, 303, r.body);
  assert.equal(r.headers.location, '/admin/sessions?done=session_revoked&app=embed');
  const gone = await creds(s.d1.cookie);
  assert.equal(gone.status, 401, gone.body);
  assert.equal((await creds(s.d2.cookie)).status, 200, 'dana\'s other session ended too');
  assert.equal((await creds(s.e1.cookie)).status, 200, 'erin\'s session ended too');
  await waitFor(async () => !(await active(s.d1.refresh)), { timeoutMs: 10000, intervalMs: 200, what: 'the upstream revocation' });
  assert.equal(await active(s.d2.refresh), true);
  assert.ok(!(await list('--app', 'embed')).rows.some((x) => x.id === id1), 'the revoked session is still listed');
  const recs = await waitFor(async () => {
    const a = await audit(40);
    return a.some((x) => x.event === 'user.revoke_upstream' && x.detail.includes(`session=${id1} `)) && a;
  }, { what: 'the upstream revocation\'s record' });
  const rev = recs.find((x) => x.event === 'user_session.revoke');
  assert.equal(rev.actor, 'user:sam');
  assert.equal(rev.app, 'embed');
  assert.match(rev.detail, new RegExp(`^session=${id1} user=dana sub=${d1row.sub}$`));
  const up = recs.find((x) => x.event === 'user.revoke_upstream' && x.detail.includes(`session=${id1} `));
  assert.equal(up.outcome, 'ok', JSON.stringify(up));
  assert.match(up.detail, /user=dana .*cause=admin/);
  assert.equal(up.actor, 'daemon');
  // a revocation's empty 200 answer is a success, not an upstream failure in /healthz
  const health = await stack.http('GET', '/healthz');
  assert.equal(health.json.upstream.status, 'ok', health.body);
  assert.doesNotMatch(readFileSync(stack.paths.logs.daemon, 'utf8'), /upstream token request failed/);
  assertNoSecrets(JSON.stringify(recs), 'the audit log');
  // a second revocation of the same session: not found
  const again = await stack.ctl(['user-session', 'revoke', String(id1)], { expect: 1 });
  assert.match(again.stderr, /not_found/);
});

test('revoke all of a user: within one app, then everywhere; erin stays logged in', async () => {
  const inUi = await stack.ctl(['--json', 'user-session', 'revoke-all', 'dana', '--app', 'ui']);
  assert.equal(JSON.parse(inUi.stdout).revoked, 1, inUi.stdout);
  assert.equal((await stack.http('POST', '/api/v1/session/token', xhr(s.d3.cookie))).status, 401);
  assert.equal((await creds(s.d2.cookie)).status, 200, 'revoke-all --app ui ended an embed session');
  const all = await stack.ctl(['--json', 'user-session', 'revoke-all', 'dana']);
  assert.equal(JSON.parse(all.stdout).revoked, 1, all.stdout);
  assert.equal((await creds(s.d2.cookie)).status, 401);
  assert.equal((await creds(s.e1.cookie)).status, 200);
  await waitFor(async () => !(await active(s.d2.refresh)), { timeoutMs: 10000, intervalMs: 200, what: 'the upstream revocation' });
  assert.equal(await active(s.e1.refresh), true);
  assert.equal((await list('--user', 'dana')).rows.length, 0);
  const recs = (await audit(40)).filter((x) => x.event === 'user_session.revoke_all');
  assert.deepEqual(recs.map((x) => [x.actor.startsWith('local:'), x.app, x.detail]),
    [[true, 'ui', 'user=dana sessions=1'], [true, undefined, 'user=dana sessions=1']]);
  const none = await stack.ctl(['--json', 'user-session', 'revoke-all', 'nobody-at-all']);
  assert.equal(JSON.parse(none.stdout).revoked, 0);
});

test('sessions that time out are revoked upstream by the sweep', async () => {
  stack.opts.adminConfig = { session_idle_s: 10 };
  stack.writeConfig();
  await stack.killDaemon('SIGTERM');
  await stack.startDaemon();
  s.e2 = await browser('embed', ERIN);
  assert.equal(await active(s.e2.refresh), true);
  const [id] = (await list('--user', 'erin')).rows.map((r) => r.id).slice(-1);
  // nobody uses it: only the sweep (once a minute) can revoke it upstream
  await waitFor(async () => !(await active(s.e2.refresh)), { timeoutMs: 150000, intervalMs: 2000, what: 'the sweep\'s revocation' });
  const up = (await audit(60)).find((x) => x.event === 'user.revoke_upstream' && x.detail.includes(`session=${id} `));
  assert.ok(up, 'no record of the upstream revocation');
  assert.equal(up.outcome, 'ok');
  assert.match(up.detail, /user=erin .*cause=expired/);
  assert.equal((await creds(s.e2.cookie)).status, 401);
  stack.opts.adminConfig = {};
  stack.writeConfig();
  await stack.killDaemon('SIGTERM');
  await stack.startDaemon();
}, { timeout: 180000 });

test('the upstream down: the revocation still stands here, the failure is logged and audited', async () => {
  s.e3 = await browser('embed', ERIN);
  const [id] = (await list('--user', 'erin')).rows.map((r) => r.id).slice(-1);
  await stack.procs.upstream.stop();
  assert.equal((await creds(s.e3.cookie)).status, 200, 'the cached set was not served with the upstream down');
  const r = await stack.ctl(['--json', 'user-session', 'revoke', String(id)]);
  assert.equal(JSON.parse(r.stdout).revoked, 1, r.stdout);
  assert.equal((await creds(s.e3.cookie)).status, 401, 'the revoked session still works');
  const up = await waitFor(async () => (await audit(20)).find((x) => x.event === 'user.revoke_upstream' &&
    x.detail.includes(`session=${id} `)), { what: 'the failed upstream revocation\'s record' });
  assert.equal(up.outcome, 'failed', JSON.stringify(up));
  assert.match(up.detail, /cause=admin error=\S/);
  assert.ok(!(await list('--user', 'erin')).rows.some((x) => x.id === id));
  assert.match(readFileSync(stack.paths.logs.daemon, 'utf8'), new RegExp(`could not revoke user session ${id} of app embed upstream`));
});
