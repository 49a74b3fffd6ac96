// Corti's own SDK (@corti/sdk, pinned) as the app, pointed at flowgate: its token requests go to
// /realms/{tenant}/protocol/openid-connect/token (an alias of /oauth2/token that checks the tenant
// and accepts "openid"), and its REST calls to /api/v1/proxy/{connection} with the token
// flowgate issued it as "Authorization: Bearer" (found by fingerprint, attributed to the app).
import assert from 'node:assert/strict';
import { CortiClient, CortiAuth } from '@corti/sdk';
import { test, useStack } from '../lib/runner.mjs';
import { decodeJwt } from '../lib/util.mjs';

const stack = useStack({ cortiApi: true });
let app;	// the SDK's app: backend, client credentials, proxy allowed on /interactions
let other;	// another app on the same connection, another scope set

const addApp = async (name, scopes) => {
  const r = await stack.ctl(['--json', 'app', 'add', name, '--connection', 'demo', '--flow',
    'client_credentials', '--kind', 'backend', '--scopes', scopes, '--proxy-methods', 'GET POST',
    '--proxy-paths', '/interactions /echo']);
  return JSON.parse(r.stdout);
};

const environment = () => ({
  base: `${stack.baseUrl}/api/v1/proxy/demo`,
  wss: `ws://127.0.0.1:${stack.nginxPort}/ws/demo`,
  login: `${stack.baseUrl}/realms`,
  agents: `${stack.baseUrl}/api/v1/proxy/demo`,
});

const realmToken = (tenant, a, scope) => stack.http('POST',
  `/realms/${tenant}/protocol/openid-connect/token`, {
    form: { grant_type: 'client_credentials', client_id: a.client_id, client_secret: a.client_secret,
      ...(scope ? { scope } : {}) },
  });

const audit = async () => (await stack.ctl(['--json', 'audit', 'tail', '-n', '200'])).stdout;

test('setup: two backends on connection demo', async () => {
  app = await addApp('sdk-app', 'streams transcribe');
  other = await addApp('sdk-other', 'transcribe');
  assert.ok(app.client_secret && other.client_secret);
});

test('the realm route gives a token; "openid" in the scope is accepted', async () => {
  const r = await realmToken('demo', app, 'openid streams');
  assert.equal(r.status, 200, r.body);
  const j = JSON.parse(r.body);
  assert.equal(j.token_type, 'Bearer');
  assert.ok(j.expires_in > 0);
  assert.ok(decodeJwt(j.access_token).payload.scope.split(' ').includes('streams'));
  const only = await realmToken('demo', app, 'openid');
  assert.equal(only.status, 200, only.body);
});

test('the realm route refuses another tenant with invalid_client, audited', async () => {
  const r = await realmToken('elsewhere', app, 'openid');
  assert.equal(r.status, 401, r.body);
  assert.equal(JSON.parse(r.body).error, 'invalid_client');
  assert.ok(!r.body.includes('access_token'));
  assert.match(await audit(), /not in realm elsewhere/);
});

test('the realm route refuses a wrong secret and a scope outside the registration', async () => {
  const bad = await realmToken('demo', { ...app, client_secret: `${app.client_secret}x` }, 'openid');
  assert.equal(bad.status, 401, bad.body);
  const wide = await realmToken('demo', other, 'openid streams');
  assert.equal(wide.status, 400, wide.body);
  assert.equal(JSON.parse(wide.body).error, 'invalid_scope');
});

test('CortiAuth.getToken gets its token from flowgate', async () => {
  const auth = new CortiAuth({ environment: environment(), tenantName: 'demo' });
  const t = await auth.getToken({ clientId: app.client_id, clientSecret: app.client_secret });
  assert.ok(t.accessToken && t.expiresIn > 0, JSON.stringify(Object.keys(t)));
});

test('CortiClient: an interaction created and listed through the proxy, as the app', async () => {
  await stack.cortiReset();
  const client = new CortiClient({ environment: environment(), tenantName: 'demo',
    auth: { clientId: app.client_id, clientSecret: app.client_secret } });
  const created = await client.interactions.create({
    encounter: { identifier: 'sdk-1', status: 'planned', type: 'first_consultation' },
  });
  assert.ok(created.interactionId, JSON.stringify(created));
  const page = await client.interactions.list();
  assert.ok(page.data.some((i) => i.id === created.interactionId || i.interactionId === created.interactionId),
    JSON.stringify(page.data));
  const seen = await stack.cortiRequests();
  assert.ok(seen.length >= 2);
  for (const s of seen) assert.equal(s.headers['tenant-name'], 'demo');
  assert.match(await audit(), /proxy\.call[^\n]*sdk-app|sdk-app[^\n]*proxy\.call/);
});

test('a bearer token of another app, an unknown one, or a malformed one is refused 401', async () => {
  const mine = JSON.parse((await realmToken('demo', app, 'openid')).body).access_token;
  const theirs = JSON.parse((await realmToken('demo', other, 'openid')).body).access_token;
  const call = (tok) => stack.http('GET', '/api/v1/proxy/demo/interactions/',
    { headers: { authorization: `Bearer ${tok}` } });
  assert.equal((await call(mine)).status, 200);
  // the other app's registration allows the call too: its token is its own credential
  assert.equal((await call(theirs)).status, 200);
  await stack.cortiReset();
  const forged = `${mine.slice(0, -4)}AAAA`;
  for (const tok of [forged, 'abc', 'a b', '"x"']) {
    const r = await call(tok);
    assert.equal(r.status, 401, `${tok.slice(0, 12)}: ${r.status} ${r.body}`);
  }
  assert.equal((await stack.cortiRequests()).length, 0, 'a refused bearer reached the upstream');
});

test('a token shared by two apps (same scope set) names no single caller: 401', async () => {
  const twin = await addApp('sdk-twin', 'streams transcribe');
  const a = JSON.parse((await realmToken('demo', app, 'streams')).body).access_token;
  const b = JSON.parse((await realmToken('demo', twin, 'streams')).body).access_token;
  assert.equal(a, b, 'the cache shares one token per connection and scope set');
  const r = await stack.http('GET', '/api/v1/proxy/demo/interactions/',
    { headers: { authorization: `Bearer ${a}` } });
  assert.equal(r.status, 401, r.body);
});

test('a token the proxy used for another app (Basic) does not make a bearer ambiguous', async () => {
  const viaBasic = await addApp('sdk-basic', 'streams interactions');
  const viaBearer = await addApp('sdk-bearer', 'streams interactions');
  const basic = await stack.http('GET', '/api/v1/proxy/demo/interactions/',
    { basic: [viaBasic.client_id, viaBasic.client_secret] });
  assert.equal(basic.status, 200, basic.body);
  const t = JSON.parse((await realmToken('demo', viaBearer, 'streams interactions')).body).access_token;
  const r = await stack.http('GET', '/api/v1/proxy/demo/interactions/', { headers: { authorization: `Bearer ${t}` } });
  assert.equal(r.status, 200, r.body);
});

test('a revoked app\'s bearer token stops working', async () => {
  const gone = await addApp('sdk-gone', 'transcribe streams interactions');
  const t = JSON.parse((await realmToken('demo', gone, 'interactions transcribe')).body).access_token;
  const call = () => stack.http('GET', '/api/v1/proxy/demo/interactions/',
    { headers: { authorization: `Bearer ${t}` } });
  assert.equal((await call()).status, 200);
  await stack.ctl(['app', 'revoke', 'sdk-gone']);
  assert.equal((await call()).status, 401);
});

test('no token in any log', async () => {
  const t = JSON.parse((await realmToken('demo', app, 'openid streams')).body).access_token;
  await stack.http('GET', '/api/v1/proxy/demo/interactions/', { headers: { authorization: `Bearer ${t}` } });
  const logs = stack.readLogs();
  for (const [k, v] of Object.entries(logs)) {
    assert.ok(!v.includes(t), `the token is in the ${k} log`);
    assert.ok(!v.includes(t.split('.')[2]), `the token's signature is in the ${k} log`);
  }
});
