// A token flowgate issued is the app's credential on the proxy only while it is valid: once
// expired it is refused 401 (invalid_client) before anything reaches the upstream, and the
// app's fresh token works. Upstream tokens live 7 s here.
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { sleep } from '../lib/util.mjs';

const stack = useStack({ cortiApi: true, upstreamTtl: 7 });
let app;

const call = (token) => stack.http('GET', '/api/v1/proxy/demo/interactions/',
  { headers: { authorization: `Bearer ${token}` } });
const tokenOf = async () => JSON.parse((await stack.http('POST', '/realms/demo/protocol/openid-connect/token', {
  form: { grant_type: 'client_credentials', client_id: app.client_id, client_secret: app.client_secret, scope: 'openid' },
})).body);

test('setup: a backend allowed GET on /interactions', async () => {
  const r = await stack.ctl(['--json', 'app', 'add', 'expiring', '--connection', 'demo', '--flow',
    'client_credentials', '--kind', 'backend', '--scopes', 'streams', '--proxy-methods', 'GET',
    '--proxy-paths', '/interactions']);
  app = JSON.parse(r.stdout);
});

test('an expired token is refused 401; the fresh one works', async () => {
  const old = await tokenOf();
  assert.ok(old.expires_in <= 7, JSON.stringify(old));
  assert.equal((await call(old.access_token)).status, 200);
  await sleep((old.expires_in + 1) * 1000);
  await stack.cortiReset();
  const r = await call(old.access_token);
  assert.equal(r.status, 401, r.body);
  assert.equal(JSON.parse(r.body).error, 'invalid_client');
  assert.equal((await stack.cortiRequests()).length, 0, 'an expired bearer reached the upstream');
  const fresh = await tokenOf();
  assert.notEqual(fresh.access_token, old.access_token);
  assert.equal((await call(fresh.access_token)).status, 200);
}, { timeout: 30000 });
