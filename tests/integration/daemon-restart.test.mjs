// The daemon dies: clear 503s from the workers, then service resumes after a restart
// without restarting the FastCGI pool.
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken, assertUnavailable, assertJson } from '../lib/oauth-assert.mjs';
import { waitFor } from '../lib/util.mjs';

const stack = useStack();
let app;
let pidsBefore;

test('served normally; the pool has its master and workers', async () => {
  app = await stack.addApp('svc', { scopes: 'transcribe streams' });
  assertToken(await stack.token(app, 'transcribe'), ['openid', 'transcribe']);
  const h = await stack.http('GET', '/healthz');
  assert.equal(h.status, 200, `healthz ${h.status} ${h.body}`);
  pidsBefore = stack.fcgiPids();
  assert.ok(pidsBefore.master, 'fcgi master running');
  assert.equal(pidsBefore.workers.length, 2, `workers: ${pidsBefore.workers}`);
});

test('daemon killed (SIGKILL): 503 temporarily_unavailable JSON with Retry-After, quickly', async () => {
  const exit = await stack.killDaemon('SIGKILL');
  assert.equal(exit.signal, 'SIGKILL');
  for (let i = 0; i < 10; i++) {
    const r = await stack.token(app, i % 2 ? 'transcribe' : 'streams', { auth: i % 3 ? 'basic' : 'form' });
    assertUnavailable(r);
    assert.ok(r.ms < 3000, `answer took ${r.ms} ms`);
  }
  const h = await stack.http('GET', '/healthz');
  assert.equal(h.status, 503, `healthz must say the daemon is unreachable: ${h.status} ${h.body}`);
});

test('the workers did not die or get restarted while the daemon was down', async () => {
  assert.deepEqual(stack.fcgiPids(), pidsBefore);
});

test('daemon restarted: served again by the same workers', async () => {
  await stack.startDaemon();
  const r = await waitFor(async () => {
    const x = await stack.token(app, 'transcribe');
    return x.status === 200 ? x : null;
  }, { timeoutMs: 15000, intervalMs: 200, what: 'a token after the daemon restart' });
  assertToken(r, ['openid', 'transcribe']);
  // every worker reconnected: more requests than workers all succeed
  for (let i = 0; i < 10; i++) assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);
  assert.deepEqual(stack.fcgiPids(), pidsBefore, 'the FastCGI master or workers changed');
  const h = await stack.http('GET', '/healthz');
  assert.equal(h.status, 200);
  assertJson(h);
});

test('SIGTERM: the daemon exits 0, and again the workers survive and reconnect', async () => {
  const exit = await stack.killDaemon('SIGTERM');
  assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}`);
  assertUnavailable(await stack.token(app, 'transcribe'));
  await stack.startDaemon();
  await waitFor(async () => (await stack.token(app, 'transcribe')).status === 200,
    { timeoutMs: 15000, intervalMs: 200, what: 'a token after the second restart' });
  assert.deepEqual(stack.fcgiPids(), pidsBefore);
});
