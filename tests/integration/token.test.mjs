// POST /oauth2/token for client_credentials: allowed scopes, client authentication, refusals.
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken, assertOAuthError } from '../lib/oauth-assert.mjs';
import { decodeJwt, verifyJwtRs256, scopeSet } from '../lib/util.mjs';

const stack = useStack();
let wide; // backend app allowed the broader scope too
let narrow; // backend app allowed only transcribe

async function upstreamCount() {
  return (await stack.upstreamStats()).token_requests;
}

test('app add --json gives a client_id and a client_secret that is shown once', async () => {
  wide = await stack.addApp('backend-wide', { scopes: 'transcribe streams interactions' });
  narrow = await stack.addApp('backend-narrow', { scopes: 'transcribe' });
  for (const a of [wide, narrow]) {
    assert.ok(a.client_id.length >= 8, `client_id "${a.client_id}"`);
    assert.ok(a.client_secret.length >= 22, 'client_secret should carry >= 128 bits');
  }
  assert.notEqual(wide.client_id, narrow.client_id);
  assert.notEqual(wide.client_secret, narrow.client_secret);
  for (const cmd of [['app', 'show', 'backend-wide'], ['app', 'list']]) {
    for (const json of [false, true]) {
      const r = await stack.ctl(cmd, { json });
      assert.ok(r.stdout.includes('backend-wide'), `${cmd.join(' ')} should list the app`);
      assert.ok(!r.stdout.includes(wide.client_secret) && !r.stderr.includes(wide.client_secret),
        `${cmd.join(' ')} printed the app secret`);
    }
  }
});

test('HTTP Basic: a limited-scope token straight from the upstream', async () => {
  const r = await stack.token(wide, 'transcribe');
  const j = assertToken(r, ['openid', 'transcribe']);
  // a real upstream JWT: signed by the upstream's key, for our upstream client, with the same scope
  const jwks = await stack.upstreamJwks();
  const payload = verifyJwtRs256(j.access_token, jwks);
  assert.equal(payload.iss, stack.upstream.issuer);
  assert.equal(payload.client_id, stack.upstream.clientId);
  assert.deepEqual(scopeSet(payload.scope), ['openid', 'transcribe']);
  assert.ok(payload.exp > Date.now() / 1000, 'token already expired');
});

test('form client authentication (client_id + client_secret fields) works too', async () => {
  const r = await stack.token(wide, 'streams', { auth: 'form' });
  const j = assertToken(r, ['openid', 'streams']);
  assert.deepEqual(scopeSet(decodeJwt(j.access_token).payload.scope), ['openid', 'streams']);
});

test('a backend app whose registration allows it gets the broader scope', async () => {
  const r = await stack.token(wide, 'interactions');
  const j = assertToken(r, ['interactions', 'openid']);
  assert.deepEqual(scopeSet(decodeJwt(j.access_token).payload.scope), ['interactions', 'openid']);
});

test('invalid_scope for a scope the app may not have, without asking the upstream', async () => {
  const before = await upstreamCount();
  for (const scope of ['streams', 'interactions', 'transcribe interactions', 'transcribe streams', 'bogus', 'transcribe bogus']) {
    const r = await stack.token(narrow, scope);
    assertOAuthError(r, 400, 'invalid_scope');
  }
  assert.equal(await upstreamCount(), before, 'a refused scope must not reach the upstream');
  // and the allowed one still works for the same app
  assertToken(await stack.token(narrow, 'transcribe'), ['openid', 'transcribe']);
});

test('invalid_client for a wrong app secret: 401 with WWW-Authenticate', async () => {
  const before = await upstreamCount();
  const wrong = { client_id: wide.client_id, client_secret: `${wide.client_secret.slice(0, -4)}AAAA` };
  const basic = await stack.token(wrong, 'transcribe');
  assertOAuthError(basic, 401, 'invalid_client');
  assert.match(basic.headers['www-authenticate'] || '', /^Basic\b/i, 'WWW-Authenticate for Basic');
  const form = await stack.token(wrong, 'transcribe', { auth: 'form' });
  assertOAuthError(form, 401, 'invalid_client');
  const unknown = await stack.token({ client_id: 'no-such-app', client_secret: wide.client_secret }, 'transcribe');
  assertOAuthError(unknown, 401, 'invalid_client');
  // another app's secret with this app's id
  const swapped = await stack.token({ client_id: wide.client_id, client_secret: narrow.client_secret }, 'transcribe');
  assertOAuthError(swapped, 401, 'invalid_client');
  const none = await stack.http('POST', '/oauth2/token', { form: { grant_type: 'client_credentials', scope: 'transcribe' } });
  assertOAuthError(none, [400, 401], ['invalid_client', 'invalid_request']);
  assert.equal(await upstreamCount(), before, 'an unauthenticated request must not reach the upstream');
});

test('a revoked app is refused', async () => {
  const tmp = await stack.addApp('backend-revoked', { scopes: 'transcribe' });
  assertToken(await stack.token(tmp, 'transcribe'), ['openid', 'transcribe']);
  await stack.ctl(['app', 'revoke', 'backend-revoked']);
  assertOAuthError(await stack.token(tmp, 'transcribe'), 401, 'invalid_client');
  // the others are unaffected
  assertToken(await stack.token(narrow, 'transcribe'), ['openid', 'transcribe']);
});

test('client credentials are refused at registration for a user-facing app', async () => {
  const r = await stack.addApp('spa-cc', { kind: 'user_facing', scopes: 'transcribe', expect: null });
  assert.notEqual(r.code, 0, 'registering client_credentials for a user-facing app must fail');
  assert.ok((r.stderr + r.stdout).trim().length > 0, 'the refusal should say why');
  const list = await stack.ctl(['app', 'list']);
  assert.ok(!list.stdout.includes('spa-cc'), 'a refused registration must not be stored');
});
