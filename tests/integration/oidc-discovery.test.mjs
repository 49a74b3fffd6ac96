// OpenID Connect done fully (issue 10): the daemon takes a connection's endpoints from its
// issuer's discovery document (fetched once, cached), verifies every ID token's signature
// against the issuer's JWKS (a rotated key is picked up without a restart), refuses forged,
// tampered, unsigned, HMAC-signed and wrongly signed ID tokens each with its own reason and no
// session, and refuses a hostile discovery document clearly while it keeps serving.
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { web } from '../lib/web.mjs';
import { scriptedLogin } from '../lib/oidc-login.mjs';

const DANA = ['dana', 'dana-password-1'];
const stack = useStack({
  oidcUsers: [DANA],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token'] },
});
let appNo = 0;

const control = (path, body) => stack.upstreamRequest('POST', path, body);

/** A user-facing code-flow app on connection conn (a new connection has its own cache). */
async function addUiApp(conn = 'demo') {
  const name = `ui${++appNo}`;
  const r = await stack.ctl(['--json', 'app', 'add', name, '--connection', conn, '--flow', 'authorization_code_pkce',
    '--kind', 'user_facing', '--scopes', 'transcribe streams', '--redirect-uri', `${stack.baseUrl}/callback`,
    '--return-url', `${stack.baseUrl}/app/`]);
  assert.equal(JSON.parse(r.stdout).ok, true, r.stdout);
  return name;
}

/** A whole login through the daemon's verbs: begin, the user at the upstream, callback. */
async function login(app) {
  const begin = web(stack, { verb: 'login.begin', app, remote: '127.0.0.9' });
  assert.equal(begin.ok, true, JSON.stringify(begin));
  const back = await scriptedLogin(begin.authorize_url, DANA[0], DANA[1],
    { caFile: stack.tls.caCert, returnPrefix: `${stack.baseUrl}/callback` });
  assert.ok(back.code, JSON.stringify(back));
  return web(stack, { verb: 'login.callback', code: back.code, state: back.state, state_cookie: begin.state, remote: '127.0.0.9' });
}

async function loginsOk() {
  const recs = JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', '500'])).stdout).records;
  return recs.filter((r) => r.event === 'user.login' && r.outcome === 'ok').length;
}

let ui;

test('logins check the signature; the discovery document and JWKS are fetched once for many logins', async () => {
  ui = await addUiApp();
  await stack.upstreamReset();
  for (let i = 0; i < 3; i++) {
    const r = await login(ui);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.equal(r.user, 'dana');
  }
  const st = await stack.upstreamStats();
  assert.equal(st.discovery_requests, 1, `discovery fetched ${st.discovery_requests} times for 3 logins`);
  assert.equal(st.jwks_requests, 1, `JWKS fetched ${st.jwks_requests} times for 3 logins`);
});

test('the authorize URL is the discovery document\'s authorization_endpoint', async () => {
  const doc = await stack.upstreamRequest('GET', `/realms/${stack.opts.realm}/.well-known/openid-configuration`);
  const begin = web(stack, { verb: 'login.begin', app: ui });
  assert.equal(begin.authorize_url.split('?')[0], doc.authorization_endpoint);
});

test('a rotated signing key is picked up without a restart: one refetch, then cached', async () => {
  const pid = stack.procs.daemon.pid;
  const { kid } = await control('/_control/rotate', {});
  await stack.upstreamReset();
  const r = await login(ui);
  assert.equal(r.ok, true, `a token signed by the new key ${kid} was refused: ${JSON.stringify(r)}`);
  const again = await login(ui);
  assert.equal(again.ok, true, JSON.stringify(again));
  const st = await stack.upstreamStats();
  assert.equal(st.jwks_requests, 1, 'the JWKS was not refetched exactly once for the unknown kid');
  assert.equal(stack.procs.daemon.pid, pid);
  assert.ok(stack.daemonAlive());
});

const SPOILED = [
  ['foreign-key', /signed by a key \(kid "[0-9a-f]+"\) the issuer does not publish/],
  ['forged', /signature does not verify with the issuer's key .*bad signature/],
  ['tamper', /signature does not verify with the issuer's key .*bad signature/],
  ['none', /unsigned \(alg none\); refused/],
  ['hs256', /signed with a shared secret \(HS256\)/],
  ['rs384', /RS384 is not in the issuer's id_token_signing_alg_values_supported/],
];
for (const [mode, why] of SPOILED) {
  test(`an ID token ${mode}: refused with its own reason, no session`, async () => {
    const before = await loginsOk();
    await control('/_control/idtoken', { mode });
    let r;
    try {
      r = await login(ui);
    } finally {
      await control('/_control/idtoken', { mode: 'normal' });
    }
    assert.equal(r.error, 'login_failed', JSON.stringify(r));
    assert.match(r.message, why);
    assert.equal(r.session, undefined);
    assert.equal(await loginsOk(), before, 'a session was started');
    const recs = JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', '5'])).stdout).records;
    assert.ok(recs.some((x) => x.event === 'user.login' && x.outcome === 'failed' && why.test(x.detail)),
      'no audit record of the refused login');
  });
}

test('after the refusals a good login still works', async () => {
  const r = await login(ui);
  assert.equal(r.ok, true, JSON.stringify(r));
});

const HOSTILE = [
  ['wrong-issuer', /names another issuer than the connection's realm; refused \(issuer https:\/\/127\.0\.0\.1:\d+\/realms\//],
  ['oversized', /discovery document: the upstream's answer was larger than 64 KiB/],
  ['garbage', /the discovery document is not JSON/],
  ['error500', /the issuer's discovery document answered HTTP 500/],
];
for (const [mode, why] of HOSTILE) {
  test(`a discovery document ${mode}: the sign-in is refused clearly, the daemon keeps serving`, async () => {
    const conn = `c-${mode}`;
    await stack.addConnection(conn, { noVerify: true });
    const app = await addUiApp(conn);
    await control('/_control/discovery', { mode });
    let begin;
    try {
      begin = web(stack, { verb: 'login.begin', app });
    } finally {
      await control('/_control/discovery', { mode: 'normal' });
    }
    assert.equal(begin.error, 'temporarily_unavailable', JSON.stringify(begin));
    assert.match(begin.message, why);
    assert.ok(stack.daemonAlive());
    assert.match(stack.readLogs().daemon, new RegExp(`connection ${conn}: `), 'no log line for the failure');
    const ok = web(stack, { verb: 'login.begin', app });
    assert.equal(ok.ok, true, `the good document was not fetched again: ${JSON.stringify(ok)}`);
  });
}
