// An emergency stop stops every route within one loop turn (issue 7): tokens already cached
// (the app cache and a user session's), answers of upstream requests in flight (dropped, not
// handed out), and flowgatectl says what it stopped. A session whose app's registration
// narrows, or whose app is revoked, is refused at once too, cached token or not.
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { scriptedLogin } from '../lib/oidc-login.mjs';
import { sleep } from '../lib/util.mjs';

const DANA = ['dana', 'dana-password-1'];
const stack = useStack({
  cortiApi: true,
  oidcUsers: [DANA],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token', 'password'] },
});
const apps = {};
const ENCOUNTER = { encounter: { identifier: 'enc-stop', status: 'planned', type: 'consultation' } };
let cookie;

const basic = (app) => [apps[app].client_id, apps[app].client_secret];
const json = (body) => ({ headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const fetchHdr = () => ({ cookie, 'x-requested-with': 'fetch' });

async function addApp(name, args) {
  const r = await stack.ctl(['--json', 'app', 'add', name, '--connection', 'demo', ...args]);
  apps[name] = JSON.parse(r.stdout);
}

// Every route a backend and a logged-in user can take, with its answer.
async function allRoutes() {
  return {
    token: await stack.http('POST', '/oauth2/token', { form: { grant_type: 'client_credentials', scope: 'transcribe' }, basic: basic('backend') }),
    stream: await stack.http('POST', '/api/v1/stream-sessions', { ...json(ENCOUNTER), basic: basic('backend') }),
    transcribe: await stack.http('POST', '/api/v1/transcribe-sessions', { ...json({}), basic: basic('backend') }),
    proxy: await stack.http('GET', '/api/v1/proxy/demo/interactions/', { basic: basic('backend') }),
    session_token: await stack.http('POST', '/api/v1/session/token', { headers: fetchHdr(), form: { scope: 'streams' } }),
    session_stream: await stack.http('POST', '/api/v1/stream-sessions', { headers: { ...fetchHdr(), 'content-type': 'application/json' }, body: JSON.stringify(ENCOUNTER) }),
    session_proxy: await stack.http('GET', '/api/v1/proxy/demo/interactions/', { headers: fetchHdr() }),
  };
}

test('setup: a backend app, a logged-in user of a PKCE app, every route served (and cached)', async () => {
  await addApp('backend', ['--flow', 'client_credentials', '--kind', 'backend', '--scopes', 'transcribe streams interactions',
    '--proxy-methods', 'GET', '--proxy-paths', '/interactions']);
  await addApp('ui', ['--flow', 'authorization_code_pkce', '--kind', 'user_facing', '--scopes', 'transcribe streams',
    '--redirect-uri', `${stack.baseUrl}/callback`, '--return-url', `${stack.baseUrl}/healthz`,
    '--proxy-methods', 'GET', '--proxy-paths', '/interactions']);
  const begin = await stack.http('GET', '/login/ui');
  assert.equal(begin.status, 302, begin.body);
  const state = [].concat(begin.headers['set-cookie']).find((c) => c.startsWith('fg_login=')).split(';')[0];
  const back = await scriptedLogin(begin.headers.location, DANA[0], DANA[1], { caFile: stack.tls.caCert, returnPrefix: `${stack.baseUrl}/callback` });
  const cb = await stack.http('GET', `/callback${new URL(back.url).search}`, { headers: { cookie: state } });
  assert.equal(cb.status, 302, cb.body);
  cookie = [].concat(cb.headers['set-cookie']).find((c) => c.startsWith('fg_user=')).split(';')[0];
  const r = await allRoutes();
  for (const [route, ans] of Object.entries(r)) assert.ok(ans.status === 200 || ans.status === 201, `${route}: ${ans.status} ${ans.body}`);
});

test('stop: every route refused at once, cached tokens included; nothing reaches the upstream; ctl says what it stopped', async () => {
  await stack.upstreamReset();
  const out = await stack.ctl(['--json', 'connection', 'stop', 'demo']);
  const rep = JSON.parse(out.stdout);
  assert.equal(rep.name, 'demo');
  assert.ok(rep.stopped.cached_tokens_dropped >= 3, `the app cache held tokens: ${out.stdout}`);
  assert.equal(rep.stopped.user_sessions_cleared, 1, out.stdout);
  const text = await stack.ctl(['connection', 'stop', 'demo']);
  assert.match(text.stdout, /cached tokens dropped/, text.stdout);
  const r = await allRoutes();
  for (const [route, ans] of Object.entries(r)) {
    assert.equal(ans.status, 503, `${route} after the stop: ${ans.status} ${ans.body}`);
    assert.equal(ans.json?.error, 'temporarily_unavailable', `${route}: ${ans.body}`);
    assert.ok(!/access_token/.test(ans.body), `${route} handed out a token: ${ans.body}`);
  }
  assert.equal((await stack.upstreamStats()).token_requests, 0, 'a stopped connection asked the upstream for a token');
  await stack.ctl(['connection', 'resume', 'demo']);
  const back = await allRoutes();
  for (const [route, ans] of Object.entries(back)) assert.ok(ans.status === 200 || ans.status === 201, `${route} after resume: ${ans.status} ${ans.body}`);
});

test('a token request in flight when the stop comes: its upstream answer is dropped, not handed out', async () => {
  await stack.upstreamMode('slow', 1500);
  // a scope set never asked before: a cold cache entry, so the request waits on the upstream
  const pending = stack.http('POST', '/oauth2/token', { form: { grant_type: 'client_credentials', scope: 'interactions' }, basic: basic('backend') });
  await sleep(400);
  const out = await stack.ctl(['--json', 'connection', 'stop', 'demo']);
  assert.equal(JSON.parse(out.stdout).stopped.upstream_requests_dropped, 1, out.stdout);
  const r = await pending;
  await stack.upstreamMode('normal');
  assert.equal(r.status, 503, r.body);
  assert.ok(!r.json.access_token, r.body);
  await stack.ctl(['connection', 'resume', 'demo']);
  const audit = JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', '20'])).stdout);
  const records = audit.records || audit;
  assert.ok(!records.some((x) => x.event === 'token.issue' && x.scopes === 'openid interactions' && /source=upstream/.test(x.detail || '')),
    'an issuance was recorded for the dropped answer');
});

test('a user\'s refresh in flight when the stop comes: its answer is neither handed out nor kept for after the resume', async () => {
  await stack.upstreamMode('slow', 1500);
  // a scope the session has no token for: the request waits on an upstream refresh
  const pending = stack.http('POST', '/api/v1/session/token', { headers: fetchHdr(), form: { scope: 'transcribe' } });
  await sleep(400);
  await stack.ctl(['connection', 'stop', 'demo']);
  const r = await pending;
  await stack.upstreamMode('normal');
  assert.equal(r.status, 503, r.body);
  assert.ok(!/access_token/.test(r.body), r.body);
  await stack.ctl(['connection', 'resume', 'demo']);
  await stack.upstreamReset();
  const after = await stack.http('POST', '/api/v1/session/token', { headers: fetchHdr(), form: { scope: 'transcribe' } });
  assert.equal(after.status, 200, after.body);
  assert.equal((await stack.upstreamStats()).token_requests, 1,
    'the token that came while the connection was stopped was served from the session after the resume');
});

test('an API call in flight when the stop comes: its answer is dropped (503), not passed on', async () => {
  await stack.cortiMode('slow', 1500);
  const pending = stack.http('POST', '/api/v1/stream-sessions', { ...json(ENCOUNTER), basic: basic('backend') });
  await sleep(400);
  await stack.ctl(['connection', 'stop', 'demo']);
  const r = await pending;
  await stack.cortiMode('normal');
  await stack.ctl(['connection', 'resume', 'demo']);
  assert.equal(r.status, 503, r.body);
  assert.ok(!/access_token|interactionId/.test(r.body), r.body);
});

test('an open session follows its app: narrowed scopes refused even when cached, revocation ends it', async () => {
  const ok = await stack.http('POST', '/api/v1/session/token', { headers: fetchHdr(), form: { scope: 'streams transcribe' } });
  assert.equal(ok.status, 200, ok.body);
  await stack.ctl(['app', 'update', 'ui', '--scopes', 'transcribe']);
  const narrowed = await stack.http('POST', '/api/v1/session/token', { headers: fetchHdr(), form: { scope: 'streams transcribe' } });
  assert.equal(narrowed.status, 400, narrowed.body);
  assert.equal(narrowed.json.error, 'invalid_scope');
  const still = await stack.http('POST', '/api/v1/session/token', { headers: fetchHdr(), form: { scope: 'transcribe' } });
  assert.equal(still.status, 200, still.body);
  await stack.ctl(['app', 'revoke', 'ui']);
  const gone = await stack.http('POST', '/api/v1/session/token', { headers: fetchHdr(), form: { scope: 'transcribe' } });
  assert.equal(gone.status, 401, gone.body);
  assert.equal(gone.json.error, 'unauthenticated');
});
