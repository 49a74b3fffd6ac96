// SPEC §6: concurrent requests for a cold token cause exactly one upstream request.
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';
import { FrameConn } from '../lib/frame.mjs';

const stack = useStack({ fcgiWorkers: 4 });
let app;

async function burst(n, scope) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: n });
  try {
    const t0 = Date.now();
    const rs = await Promise.all(Array.from({ length: n }, () => stack.token(app, scope, { agent })));
    return { rs, ms: Date.now() - t0 };
  } finally {
    agent.destroy();
  }
}

test('200 concurrent requests through nginx for a cold token: one upstream request', async () => {
  app = await stack.addApp('burst', { scopes: 'transcribe streams interactions' });
  await stack.upstreamReset();
  const { rs, ms } = await burst(200, 'transcribe streams');
  const bad = rs.filter((r) => r.status !== 200);
  assert.equal(bad.length, 0, `${bad.length} of 200 failed, e.g. HTTP ${bad[0] && bad[0].status} ${bad[0] && bad[0].body}`);
  const tokens = new Set(rs.map((r) => assertToken(r, ['openid', 'streams', 'transcribe']).access_token));
  assert.equal(tokens.size, 1, `${tokens.size} different tokens for one scope set`);
  const s = await stack.upstreamStats();
  assert.equal(s.token_requests, 1, `upstream saw ${s.token_requests} token requests: ${JSON.stringify(s.by_scope)}`);
  assert.deepEqual(s.by_scope, { 'openid streams transcribe': 1 });
  process.stdout.write(`# 200 cold requests in ${ms} ms\n`);
});

test('200 more (warm) are served from the cache', async () => {
  const { rs, ms } = await burst(200, 'transcribe streams');
  assert.equal(rs.filter((r) => r.status !== 200).length, 0);
  assert.equal((await stack.upstreamStats()).token_requests, 1);
  process.stdout.write(`# 200 warm requests in ${ms} ms\n`);
});

test('50 daemon connections at once for another cold scope set: one upstream request', async () => {
  // straight at the daemon socket (as root: an ADMIN peer, which may call "token"), so the
  // requests really are concurrent at the daemon and not serialised by the FastCGI pool
  await stack.upstreamReset();
  const conns = await Promise.all(Array.from({ length: 50 }, () => FrameConn.open(stack.paths.daemonSocket)));
  try {
    const replies = await Promise.all(conns.map((c, i) => c.call({
      verb: 'token', client_id: app.client_id, client_secret: app.client_secret,
      grant_type: 'client_credentials', scope: 'interactions',
    }, { id: 1000 + i, timeoutMs: 15000 })));
    replies.forEach((rep, i) => {
      assert.ok(rep, `connection ${i}: no reply`);
      assert.equal(rep.hdr.id, 1000 + i, 'request id echoed');
      assert.equal(rep.body.ok, true, `connection ${i}: ${JSON.stringify(rep.body)}`);
    });
    assert.equal(new Set(replies.map((r) => r.body.access_token)).size, 1);
  } finally {
    conns.forEach((c) => c.close());
  }
  const s = await stack.upstreamStats();
  assert.equal(s.token_requests, 1, `upstream saw ${s.token_requests}: ${JSON.stringify(s.by_scope)}`);
  assert.deepEqual(s.by_scope, { 'interactions openid': 1 });
});
