// SPEC §6: upstream connections are reused (no TLS handshake per token) and tokens are refreshed
// ahead of expiry, so in steady state no request waits on the upstream.
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';
import { waitFor } from '../lib/util.mjs';

// tokens live 20 s upstream; the daemon refreshes them when 15 s or less are left
const stack = useStack({ upstreamTtl: 20, upstreamConfig: { refresh_ahead_s: 15 } });
let app;

async function daemonStats() {
  const r = await stack.ctl(['--json', 'status']);
  return JSON.parse(r.stdout).stats;
}

test('five token requests in a row for five scope sets share one upstream TLS connection', async () => {
  app = await stack.addApp('svc', { scopes: 'transcribe streams interactions' });
  await stack.upstreamReset();
  for (const s of ['transcribe', 'streams', 'interactions', 'transcribe streams', 'interactions streams']) {
    assertToken(await stack.token(app, s));
  }
  const st = await stack.upstreamStats();
  assert.equal(st.token_requests, 5, JSON.stringify(st));
  assert.ok(st.tls_handshakes <= 1, `${st.tls_handshakes} TLS handshakes for 5 tokens: connections not reused`);
});

test('a token in use is refreshed before it expires, without a request waiting for it', async () => {
  const first = assertToken(await stack.token(app, 'streams')).access_token;
  const before = await daemonStats();
  const up0 = (await stack.upstreamStats()).by_scope['openid streams'] || 0;
  // 20 s lifetime, refresh at 15 s left: the daemon's timer asks again about 5 s in
  await waitFor(async () => ((await stack.upstreamStats()).by_scope['openid streams'] || 0) > up0,
    { timeoutMs: 12000, intervalMs: 250, what: 'a refresh of the streams token' });
  // the upstream counts the request when it arrives; the daemon stores the answer a moment later
  let r;
  await waitFor(async () => {
    r = assertToken(await stack.token(app, 'streams'));
    return r.access_token !== first;
  }, { timeoutMs: 5000, intervalMs: 100, what: 'the refreshed token served' });
  assert.ok(r.expires_in > 15, `expires_in ${r.expires_in}: not the fresh token`);
  const after = await daemonStats();
  assert.equal(after.cache_misses, before.cache_misses, 'a request had to wait on the upstream');
});
