// Issue 8: the table of end-user logins in progress is bounded (4,096) and evicts its OLDEST
// entry when full, so a flood of started logins cannot make every real login fail: after more
// than 4,096 login.begin frames (from the web user's socket, as the front end sends them), the
// newest login completes and the oldest is refused as unknown or expired.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test, useStack } from '../lib/runner.mjs';
import { web } from '../lib/web.mjs';
import { scriptedLogin } from '../lib/oidc-login.mjs';
import { TESTS_DIR, userIds, WEB_USER } from '../lib/stack.mjs';

const PENDING_MAX = 4096;	// OIDC_PENDING_MAX in daemon/oidc.c
const DANA = ['dana', 'dana-password-1'];
const stack = useStack({
  oidcUsers: [DANA],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token'] },
});

/** Run a plan of tests/lib/login-race.mjs as the web user; {replies, token, order}. */
function race(plan) {
  const u = userIds(WEB_USER);
  const out = execFileSync('setpriv', [`--reuid=${u.uid}`, `--regid=${u.gid}`, '--clear-groups',
    process.execPath, join(TESTS_DIR, 'lib', 'login-race.mjs'), stack.paths.daemonSocket,
    '--plan', '-'], { input: JSON.stringify(plan), encoding: 'utf8', timeout: 120000,
    maxBuffer: 256 << 20 });
  return JSON.parse(out);
}

/** The user's part at the OIDC server, scripted: the code and state it sends back. */
function userLogin(begin) {
  return scriptedLogin(begin.authorize_url, DANA[0], DANA[1],
    { caFile: stack.tls.caCert, returnPrefix: `${stack.baseUrl}/callback` });
}

test('more logins started than the table holds: the newest completes, the oldest is gone', async () => {
  const r = await stack.ctl(['--json', 'app', 'add', 'ui', '--connection', 'demo', '--flow',
    'authorization_code_pkce', '--kind', 'user_facing', '--scopes', 'transcribe streams',
    '--redirect-uri', `${stack.baseUrl}/callback`, '--return-url', `${stack.baseUrl}/app/`]);
  assert.equal(JSON.parse(r.stdout).ok, true, r.stdout);
  const oldest = web(stack, { verb: 'login.begin', app: 'ui', remote: '127.0.0.5' });
  assert.equal(oldest.ok, true, JSON.stringify(oldest));
  const flood = race({ requests: Array.from({ length: PENDING_MAX + 8 },
    () => ({ verb: 'login.begin', app: 'ui', remote: '10.30.0.1' })), window: 256 });
  assert.ok(flood.replies.every((x) => x && x.body.ok), 'a login.begin was refused');
  const newest = web(stack, { verb: 'login.begin', app: 'ui', remote: '127.0.0.6' });
  assert.equal(newest.ok, true, JSON.stringify(newest));
  const backNew = await userLogin(newest);
  const backOld = await userLogin(oldest);
  assert.ok(backNew.code && backOld.code, JSON.stringify({ backNew, backOld }));
  const done = web(stack, { verb: 'login.callback', code: backNew.code, state: backNew.state,
    state_cookie: newest.state, remote: '127.0.0.6' });
  assert.equal(done.ok, true, `the newest login was evicted: ${JSON.stringify(done)}`);
  assert.equal(done.user, 'dana');
  const gone = web(stack, { verb: 'login.callback', code: backOld.code, state: backOld.state,
    state_cookie: oldest.state, remote: '127.0.0.5' });
  assert.equal(gone.error, 'invalid_state', `the oldest login outlived ${PENDING_MAX} newer ones: ${JSON.stringify(gone)}`);
}, { timeout: 180000 });
