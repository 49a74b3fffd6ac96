// SPEC §5.5: a cached token is never returned for a request with a different scope set.
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';
import { decodeJwt, scopeSet } from '../lib/util.mjs';

const stack = useStack();
let app;
const seen = {};

test('the broad scope set first', async () => {
  app = await stack.addApp('wide', { scopes: 'transcribe streams interactions' });
  await stack.upstreamReset();
  const j = assertToken(await stack.token(app, 'interactions transcribe streams'),
    ['interactions', 'openid', 'streams', 'transcribe']);
  seen.broad = j.access_token;
  assert.deepEqual(scopeSet(decodeJwt(j.access_token).payload.scope), ['interactions', 'openid', 'streams', 'transcribe']);
});

test('then `streams` alone: exactly "openid streams", a different token, its JWT says so too', async () => {
  const j = assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);
  assert.equal(j.scope, 'openid streams', 'the returned scope must be exactly "openid streams"');
  assert.notEqual(j.access_token, seen.broad, 'a broader cached token was returned for a limited request');
  const { payload } = decodeJwt(j.access_token);
  assert.deepEqual(scopeSet(payload.scope), ['openid', 'streams'], `JWT scope "${payload.scope}"`);
  seen.streams = j.access_token;
});

test('a subset that is not a prefix (`transcribe streams`) gets its own token too', async () => {
  const j = assertToken(await stack.token(app, 'transcribe streams'), ['openid', 'streams', 'transcribe']);
  assert.ok(![seen.broad, seen.streams].includes(j.access_token), 'a token of another scope set was reused');
  assert.deepEqual(scopeSet(decodeJwt(j.access_token).payload.scope), ['openid', 'streams', 'transcribe']);
  seen.ts = j.access_token;
});

test('the same scope set is served from the cache, in any order and with duplicates', async () => {
  const before = (await stack.upstreamStats()).token_requests;
  assert.equal(assertToken(await stack.token(app, 'streams')).access_token, seen.streams);
  assert.equal(assertToken(await stack.token(app, 'streams transcribe')).access_token, seen.ts);
  assert.equal(assertToken(await stack.token(app, 'transcribe  streams transcribe')).access_token, seen.ts);
  assert.equal(assertToken(await stack.token(app, 'streams interactions transcribe')).access_token, seen.broad);
  assert.equal((await stack.upstreamStats()).token_requests, before, 'cached requests reached the upstream');
});

test('the upstream was asked once per scope set, each time for exactly that set plus openid', async () => {
  const s = await stack.upstreamStats();
  assert.deepEqual(s.by_scope, {
    'interactions openid streams transcribe': 1,
    'openid streams': 1,
    'openid streams transcribe': 1,
  });
});

test('another app on the same connection with only `streams` never sees a broader token', async () => {
  const small = await stack.addApp('small', { scopes: 'streams' });
  const j = assertToken(await stack.token(small, 'streams'), ['openid', 'streams']);
  assert.ok(![seen.broad, seen.ts].includes(j.access_token));
  assert.deepEqual(scopeSet(decodeJwt(j.access_token).payload.scope), ['openid', 'streams']);
});
