// The decision table of SPEC §2 end to end through nginx, FastCGI, the daemon and the real OIDC
// server: for each of its four rows an app registered for it can do what that flow allows and
// is refused what it forbids.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, useStack } from '../lib/runner.mjs';
import { REPO_DIR } from '../lib/stack.mjs';

const DANA = ['dana', 'dana-password-1'];
const stack = useStack({
  oidcUsers: [DANA],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token', 'password'] },
});
const policy = JSON.parse(readFileSync(join(REPO_DIR, 'schema', 'policy.json'), 'utf8'));
const apps = {};

// one registration per row, written out here rather than derived from the policy's own logic
const ROWS = {
  embedded_assistant: { app: 'scribe', args: ['--flow', 'authorization_code_pkce', '--kind', 'assistant', '--scopes', 'transcribe streams'], redirect: true },
  user_facing_browser: { app: 'spa', args: ['--flow', 'authorization_code_pkce', '--kind', 'user_facing', '--scopes', 'transcribe streams'], redirect: true },
  server_side_web: { app: 'webapp', args: ['--flow', 'authorization_code', '--kind', 'user_facing', '--scopes', 'transcribe streams'], redirect: true },
  backend_only: { app: 'batch', args: ['--flow', 'client_credentials', '--kind', 'backend', '--scopes', 'transcribe streams'] },
  internal_no_redirect: { app: 'kiosk', args: ['--flow', 'ropc', '--kind', 'user_facing', '--scopes', 'transcribe', '--internal', '--no-redirect',
    '--justification', 'Warehouse terminal with no browser; to be replaced by PKCE next year.'] },
};

const basic = (name) => [apps[name].client_id, apps[name].client_secret];
const cc = (name) => stack.http('POST', '/oauth2/token', { form: { grant_type: 'client_credentials', scope: 'transcribe' }, basic: basic(name) });
const ropc = (name, password = DANA[1]) => stack.http('POST', '/oauth2/token',
  { form: { grant_type: 'password', username: DANA[0], password, scope: 'transcribe' }, basic: basic(name) });

test('the policy has exactly the rows this test covers', () => {
  assert.deepEqual(policy.rows.map((r) => [r.id, r.flow]).sort(),
    Object.entries(ROWS).map(([id, r]) => [id, r.args[1]]).sort());
});

test('setup: one app registered for each row', async () => {
  for (const [row, r] of Object.entries(ROWS)) {
    const extra = r.redirect ? ['--redirect-uri', `${stack.baseUrl}/callback`, '--return-url', `${stack.baseUrl}/healthz`] : [];
    const out = await stack.ctl(['--json', 'app', 'add', r.app, '--connection', 'demo', ...r.args, ...extra]);
    apps[r.app] = JSON.parse(out.stdout);
    assert.ok(apps[r.app].client_id, `${row}: ${out.stdout}`);
  }
});

for (const row of ['embedded_assistant', 'user_facing_browser', 'server_side_web']) {
  test(`${row}: /login/{app} redirects to the upstream's authorization endpoint; client credentials refused`, async () => {
    const { app } = ROWS[row];
    const r = await stack.http('GET', `/login/${app}`);
    assert.equal(r.status, 302, r.body);
    const u = new URL(r.headers.location);
    assert.equal(u.origin, `https://127.0.0.1:${stack.upstreamPort}`);
    assert.equal(u.pathname, '/realms/demo/protocol/openid-connect/auth');
    assert.equal(u.searchParams.get('response_type'), 'code');
    assert.equal(u.searchParams.get('redirect_uri'), `${stack.baseUrl}/callback`);
    assert.equal(u.searchParams.get('code_challenge_method'), 'S256', 'PKCE is sent upstream for both code flows');
    assert.ok([].concat(r.headers['set-cookie'] || []).some((c) => c.startsWith('fg_login=')));
    const t = await cc(app);
    assert.equal(t.status, 400, t.body);
    assert.equal(t.json.error, 'unauthorized_client', 'a user-facing app got a client-credentials token');
    const p = await ropc(app);
    assert.equal(p.status, 400, p.body);
    assert.equal(p.json.error, 'unauthorized_client');
  });
}

test('backend_only: a client-credentials token; no password grant, no user login', async () => {
  const t = await cc('batch');
  assert.equal(t.status, 200, t.body);
  assert.ok(t.json.access_token);
  const p = await ropc('batch');
  assert.equal(p.status, 400, p.body);
  assert.equal(p.json.error, 'unauthorized_client');
  const l = await stack.http('GET', '/login/batch');
  assert.equal(l.status, 404, l.body);
});

test('internal_no_redirect: a password-grant token for the user; no client-credentials token, no login redirect', async () => {
  const t = await ropc('kiosk');
  assert.equal(t.status, 200, t.body);
  assert.ok(t.json.access_token);
  const wrong = await ropc('kiosk', 'not-the-password');
  assert.equal(wrong.status, 400);
  assert.equal(wrong.json.error, 'invalid_grant');
  const c = await cc('kiosk');
  assert.equal(c.status, 400, c.body);
  assert.equal(c.json.error, 'unauthorized_client');
  assert.notEqual((await stack.http('GET', '/login/kiosk')).status, 302);
  const rec = JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', '100'])).stdout).records;
  assert.ok(rec.some((r) => r.app === 'kiosk' && /grant=password user=dana/.test(r.detail || '')), 'ROPC use not audited with the username');
});

test('registrations the table forbids are refused', async () => {
  const refused = [
    ['cc-ui', ['--flow', 'client_credentials', '--kind', 'user_facing', '--scopes', 'transcribe']],
    ['ropc-open', ['--flow', 'ropc', '--kind', 'user_facing', '--scopes', 'transcribe']],
    ['ropc-nojust', ['--flow', 'ropc', '--kind', 'user_facing', '--scopes', 'transcribe', '--internal', '--no-redirect']],
    ['pkce-noredirect', ['--flow', 'authorization_code_pkce', '--kind', 'user_facing', '--scopes', 'transcribe']],
  ];
  for (const [name, args] of refused) {
    const r = await stack.ctl(['app', 'add', name, '--connection', 'demo', ...args], { expect: null });
    assert.notEqual(r.code, 0, `${name} was registered: ${r.stdout}`);
  }
  const list = JSON.parse((await stack.ctl(['--json', 'app', 'list'])).stdout);
  const names = (list.apps || list).map((a) => a.name);
  for (const [name] of refused) assert.ok(!names.includes(name), `${name} is in the app list`);
});
