// SPEC §5.8: a crash at any point of a rotation leaves the old or the new secret working,
// never neither.  The daemon is killed while it waits for the upstream to verify the new one.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';
import { randomSecret, sleep } from '../lib/util.mjs';

const stack = useStack({ upstreamConfig: { timeout_ms: 8000 } });
let app;

async function version() {
  const r = await stack.ctl(['--json', 'connection', 'show', 'demo']);
  return JSON.parse(r.stdout).connection.secret_version;
}

test('killed (SIGKILL) mid-rotation, before the switch: the old secret is current and works', async () => {
  app = await stack.addApp('svc', { scopes: 'transcribe streams' });
  assertToken(await stack.token(app, 'transcribe'));
  assert.equal(await version(), 1);
  await stack.upstreamMode('slow', 5000);
  // flowgatectl waits for the verification; the daemon dies under it
  const ctl = spawn(stack.bins.flowgatectl, ['-c', stack.paths.config, 'connection', 'rotate', 'demo'],
    { stdio: ['pipe', 'ignore', 'ignore'] });
  ctl.stdin.end(`${randomSecret('FGNEVER')}\n`);
  const ctlExit = new Promise((r) => ctl.once('exit', r));
  await sleep(1000);
  const exit = await stack.killDaemon('SIGKILL');
  assert.equal(exit.signal, 'SIGKILL');
  assert.notEqual(await ctlExit, 0, 'flowgatectl reported a rotation that cannot have happened');
  await stack.upstreamMode('normal');
  await stack.startDaemon();
  assert.equal(await version(), 1, 'the half-done rotation changed the current secret');
  // a cold scope set needs the upstream: the stored (old) secret must still be the working one
  assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);
  const v = await stack.ctl(['audit', 'verify']);
  assert.match(v.stdout, /audit chain ok/, v.stdout + v.stderr);
});

test('a rotation after the restart goes through, and the new secret is then the working one', async () => {
  const fresh = randomSecret('FGFRESH');
  await stack.upstreamSetSecret(fresh);
  const r = await stack.ctl(['connection', 'rotate', 'demo'], { stdin: `${fresh}\n` });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await version(), 2);
  await stack.killDaemon('SIGKILL');
  await stack.startDaemon();
  assert.equal(await version(), 2);
  assertToken(await stack.token(app, 'transcribe streams'), ['openid', 'streams', 'transcribe']);
});
