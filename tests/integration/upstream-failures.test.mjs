// Upstream unreachable / slow / 500 / garbage: clear errors, never a crash, never a hang,
// and cached tokens keep being served meanwhile.
import assert from 'node:assert/strict';
import { test, after, useStack } from '../lib/runner.mjs';
import { assertToken, assertOAuthError, assertJson } from '../lib/oauth-assert.mjs';
import { waitFor } from '../lib/util.mjs';
import { freePort } from '../lib/ports.mjs';

const TIMEOUT_MS = 2000;
const stack = useStack({ upstreamConfig: { connect_timeout_ms: 1000, timeout_ms: TIMEOUT_MS, refresh_ahead_s: 60 } });
let n = 0;
let steady; // an app with a warm cached token on the demo connection
let steadyToken;
let daemonPid;

after(async () => { try { await stack.upstreamMode('normal'); } catch { /* stack gone */ } });

/** A new connection (its own cache) and app; connection add verifies upstream, so call in normal mode. */
async function freshApp(scopes = 'transcribe streams') {
  n++;
  await stack.addConnection(`conn${n}`);
  return stack.addApp(`app${n}`, { connection: `conn${n}`, scopes });
}

/** A clear upstream-failure answer: 503 temporarily_unavailable (or a 502 server_error), no token. */
function assertUpstreamError(r, { leaked = [] } = {}) {
  const j = assertOAuthError(r, [502, 503], ['temporarily_unavailable', 'server_error']);
  if (r.status === 503) assert.match(String(r.headers['retry-after'] || ''), /^[1-9]\d*$/, 'Retry-After on 503');
  for (const s of leaked) assert.ok(!r.body.includes(s), `the upstream's answer leaked through: ${r.body}`);
  return j;
}

async function assertStillServing() {
  assert.ok(stack.daemonAlive(), 'the daemon died');
  const r = await stack.token(steady, 'transcribe');
  assert.equal(assertToken(r).access_token, steadyToken, 'the cached token should still be served');
  assert.ok(r.ms < 1000, `a cached request took ${r.ms} ms`);
  const h = await stack.http('GET', '/healthz');
  assert.ok([200, 503].includes(h.status), `healthz ${h.status}`);
  assertJson(h);
}

test('setup: a steady app with a cached token', async () => {
  steady = await stack.addApp('steady', { scopes: 'transcribe streams' });
  steadyToken = assertToken(await stack.token(steady, 'transcribe'), ['openid', 'transcribe']).access_token;
  daemonPid = stack.daemonPid;
  assert.ok(daemonPid);
});

test('unreachable upstream (closed port): connection add refuses to verify; token answers 503 fast', async () => {
  const port = await freePort();
  const tokenUrl = `https://127.0.0.1:${port}/realms/demo/protocol/openid-connect/token`;
  const add = await stack.addConnection('dead-verify', { tokenUrl, expect: null });
  assert.notEqual(add.code, 0, 'connection add must verify the secret upstream');
  await stack.addConnection('dead', { tokenUrl, noVerify: true });
  const app = await stack.addApp('dead-app', { connection: 'dead', scopes: 'transcribe' });
  const r = await stack.token(app, 'transcribe');
  assertUnavailableish(r);
  assert.ok(r.ms < TIMEOUT_MS + 2000, `took ${r.ms} ms`);
  await assertStillServing();
});

function assertUnavailableish(r) {
  const j = assertUpstreamError(r);
  assert.equal(j.error, 'temporarily_unavailable', 'an unreachable upstream is temporarily_unavailable');
}

test('slow upstream (beyond the daemon timeout): an error after ~timeout, other requests not blocked', async () => {
  const app = await freshApp();
  await stack.upstreamMode('slow', 30000);
  try {
    const slow = stack.token(app, 'transcribe');
    await new Promise((r) => setTimeout(r, 300));
    // while that upstream call hangs, cached requests are answered at once
    for (let i = 0; i < 5; i++) {
      const r = await stack.token(steady, 'transcribe');
      assert.equal(assertToken(r).access_token, steadyToken);
      assert.ok(r.ms < 1000, `a cached request waited ${r.ms} ms behind a slow upstream call`);
    }
    const r = await slow;
    assertUnavailableish(r);
    assert.ok(r.ms >= TIMEOUT_MS - 500, `answered after ${r.ms} ms: before the timeout?`);
    assert.ok(r.ms < TIMEOUT_MS + 4000, `answered after ${r.ms} ms: the timeout was not applied`);
  } finally {
    await stack.upstreamMode('normal');
  }
  await assertStillServing();
});

for (const [mode, leaked] of [['error500', ['<html', 'Internal Server Error']], ['garbage', ['<garbage>', 'this is not']], ['badjson', ['soon']]]) {
  test(`upstream answers ${mode}: a clear JSON error, nothing of the upstream's body passed on`, async () => {
    const app = await freshApp();
    await stack.upstreamMode(mode);
    try {
      for (const scope of ['transcribe', 'streams']) {
        const r = await stack.token(app, scope);
        assertUpstreamError(r, { leaked });
      }
      await assertStillServing();
    } finally {
      await stack.upstreamMode('normal');
    }
    // recovers once the upstream does (allowing for a short back-off)
    await waitFor(async () => (await stack.token(app, 'transcribe')).status === 200,
      { timeoutMs: 15000, intervalMs: 250, what: `a token after the upstream left mode ${mode}` });
  });
}

test('while the upstream fails, cached tokens are still served until they expire', async () => {
  await stack.upstreamMode('error500');
  try {
    for (let i = 0; i < 20; i++) assert.equal(assertToken(await stack.token(steady, 'transcribe')).access_token, steadyToken);
  } finally {
    await stack.upstreamMode('normal');
  }
});

test('the daemon is still the same process after all of it', async () => {
  await assertStillServing();
  assert.equal(stack.daemonPid, daemonPid, 'the daemon was restarted');
  const log = stack.readLogs().daemon;
  assert.doesNotMatch(log, /AddressSanitizer|runtime error:|Segmentation|core dumped/, 'sanitizer or crash report in the daemon log');
});
