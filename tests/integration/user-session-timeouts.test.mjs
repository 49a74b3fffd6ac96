// Issue 10: an end user's idle and absolute timeouts hold across daemon restarts (the stored
// times count, not the daemon's memory).  session_idle_s 10, session_max_s 20 here.
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { sleep } from '../lib/stack.mjs';
import { userLogin } from '../lib/oidc-login.mjs';

const DANA = ['dana', 'dana-password-1'];
const stack = useStack({
  oidcUsers: [DANA],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token'] },
  adminConfig: { session_idle_s: 10, session_max_s: 20 },
});
const token = (cookie) => stack.http('POST', '/api/v1/session/token', { headers: { cookie, 'x-requested-with': 'fetch' } });

/** Log DANA in to app ui through the real login routes; the fg_user cookie. */
const login = () => userLogin(stack, 'ui', DANA[0], DANA[1]);

test('setup: a user-facing PKCE app', async () => {
  const r = await stack.ctl(['--json', 'app', 'add', 'ui', '--connection', 'demo', '--flow', 'authorization_code_pkce',
    '--kind', 'user_facing', '--scopes', 'transcribe streams', '--redirect-uri', `${stack.baseUrl}/callback`,
    '--return-url', `${stack.baseUrl}/healthz`]);
  assert.ok(JSON.parse(r.stdout).client_id, r.stdout);
});

test('idle across a restart: a session unused for longer than session_idle_s is gone after it', async () => {
  const cookie = await login();
  assert.equal((await token(cookie)).status, 200);
  await stack.killDaemon('SIGKILL');
  await sleep(3000);
  await stack.startDaemon();
  assert.equal((await token(cookie)).status, 200, 'a restart within the idle time ended the session');
  await stack.killDaemon('SIGKILL');
  await sleep(11000);
  await stack.startDaemon();
  const r = await token(cookie);
  assert.equal(r.status, 401, r.body);
});

test('absolute across restarts: a session in use ends session_max_s after its login', async () => {
  const cookie = await login();
  const t0 = Date.now();
  for (let i = 0; i < 3; i++) {	// used every few seconds, a restart between each use
    assert.equal((await token(cookie)).status, 200, `use ${i}`);
    await stack.killDaemon('SIGKILL');
    await stack.startDaemon();
    await sleep(4000);
  }
  assert.equal((await token(cookie)).status, 200, 'a live session ended early');
  await sleep(Math.max(0, 21000 - (Date.now() - t0)));
  const r = await token(cookie);
  assert.equal(r.status, 401, r.body);
});
