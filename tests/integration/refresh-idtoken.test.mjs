// Issue 10: the ID token of a refresh is verified like a login's before an embedded Assistant's
// token set is kept or handed out (POST /api/v1/session/assistant-credentials): signature
// against the issuer's JWKS, issuer, audience, azp, times, and the session's own subject; the
// nonce may be absent.  A refused refresh hands nothing to the browser, is audited with its
// reason, and keeps nothing of the refused set: the next ask refreshes again.
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { sleep } from '../lib/stack.mjs';
import { decodeJwt } from '../lib/util.mjs';
import { web } from '../lib/web.mjs';
import { scriptedLogin, userLogin } from '../lib/oidc-login.mjs';

const DANA = ['dana', 'dana-password-1'];
const stack = useStack({
  oidcUsers: [DANA],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token'] },
});
const idtoken = (mode) => stack.upstreamRequest('POST', '/_control/idtoken', { mode });
const creds = () => stack.http('POST', '/api/v1/session/assistant-credentials',
  { headers: { cookie, 'x-requested-with': 'fetch' } });
const refreshes = async () => (await stack.upstreamStats()).by_grant.refresh_token || 0;
let cookie, sub, clientId;

/** Log DANA in to app name through the real login routes; the fg_user cookie. */
const login = (name) => userLogin(stack, name, DANA[0], DANA[1]);

/** The last n audit records. */
async function audit(n) {
  return JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', String(n)])).stdout).records;
}

/** Make the session's set need a refresh: the one held (sets live 2 s here), outlived. */
async function outlivedSet() {
  const c = await creds();
  assert.equal(c.status, 200, c.body);
  await sleep(2200);
  return c.json;
}

test('setup: an Assistant app; its user logs in', async () => {
  const r = await stack.ctl(['--json', 'app', 'add', 'embed', '--connection', 'demo', '--flow', 'authorization_code_pkce',
    '--kind', 'assistant', '--scopes', 'transcribe streams', '--redirect-uri', `${stack.baseUrl}/callback`,
    '--return-url', `${stack.baseUrl}/healthz`]);
  assert.ok(JSON.parse(r.stdout).client_id, r.stdout);
  await stack.upstreamTtls({ ttl: 2 });
  cookie = await login('embed');
  sub = (await stack.upstreamUsers()).find((u) => u.username === 'dana').sub;
  clientId = stack.opts.upstreamClientId;
});

test('a good refresh hands over a new set: a verified ID token of the same user, a rotated refresh token', async () => {
  const old = await outlivedSet();
  const before = await refreshes();
  const c = await creds();
  assert.equal(c.status, 200, c.body);
  assert.equal(await refreshes(), before + 1, 'no refresh was made');
  assert.notEqual(c.json.access_token, old.access_token);
  assert.notEqual(c.json.refresh_token, old.refresh_token, 'the refresh token was not rotated');
  const id = decodeJwt(c.json.id_token).payload;
  assert.equal(id.sub, sub);
  assert.equal(id.aud, clientId);
});

test('a refreshed ID token without a nonce is accepted (OIDC Core 12.2)', async () => {
  await outlivedSet();
  await idtoken('no-nonce');
  let c;
  try {
    c = await creds();
  } finally {
    await idtoken('normal');
  }
  assert.equal(c.status, 200, c.body);
  assert.equal(decodeJwt(c.json.id_token).payload.nonce, undefined);
});

const SPOILED = [
  ['forged', 'a bad signature', /signature does not verify with the issuer's key/],
  ['foreign-key', 'an unknown key', /signed by a key \(kid .[0-9a-f]+.\) the issuer does not publish/],
  ['other-sub', 'another subject', /names another subject than the login's/],
  ['wrong-aud', 'another audience', /audience is not this client/],
];
for (const [mode, what, why] of SPOILED) {
  test(`a refreshed ID token with ${what} (${mode}) is refused with its reason; nothing reaches the browser`, async () => {
    const held = await outlivedSet();
    const before = await refreshes();
    await stack.upstreamTtls({ ttl: 300 });
    await idtoken(mode);
    let first, second;
    try {
      first = await creds();
      second = await creds();	// a kept refused set (300 s) would be handed out now from memory
    } finally {
      await idtoken('normal');
      await stack.upstreamTtls({ ttl: 2 });
    }
    for (const c of [first, second]) {
      assert.equal(c.status, 503, c.body);
      assert.equal(c.json.error, 'temporarily_unavailable', c.body);
      assert.match(c.body, why);
      for (const k of ['access_token', 'refresh_token', 'id_token']) assert.equal(c.json[k], undefined, c.body);
    }
    assert.equal(await refreshes(), before + 2, 'the refused set was kept and handed out again');
    const recs = (await audit(10)).filter((x) => x.event === 'token.refuse' && x.app === 'embed');
    assert.ok(recs.length >= 2 && recs.slice(-2).every((x) => x.outcome === 'temporarily_unavailable' &&
      why.test(x.detail) && x.actor === 'oidc:dana'), JSON.stringify(recs.slice(-2)));
    // the grant survives (the rotated refresh token was kept): the next good refresh works
    const after = await creds();
    assert.equal(after.status, 200, after.body);
    assert.notEqual(after.json.access_token, held.access_token);
    assert.equal(decodeJwt(after.json.id_token).payload.sub, sub);
    assert.equal(await refreshes(), before + 3);
  });
}

test('a login\'s ID token without its nonce is still refused', async () => {
  const begin = web(stack, { verb: 'login.begin', app: 'embed' });
  assert.equal(begin.ok, true, JSON.stringify(begin));
  const back = await scriptedLogin(begin.authorize_url, DANA[0], DANA[1],
    { caFile: stack.tls.caCert, returnPrefix: `${stack.baseUrl}/callback` });
  await idtoken('no-nonce');
  let r;
  try {
    r = web(stack, { verb: 'login.callback', code: back.code, state: back.state, state_cookie: begin.state });
  } finally {
    await idtoken('normal');
  }
  assert.equal(r.error, 'login_failed', JSON.stringify(r));
  assert.match(r.message, /nonce does not match this login/);
});
