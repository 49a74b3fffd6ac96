// Removing a connection: refused while an active app uses it; afterwards its sealed secrets are
// gone, its apps stop working, and the removal is audited (one transaction with its record).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken, assertRefused } from '../lib/oauth-assert.mjs';

const stack = useStack();
let app;

test('an active app blocks the removal; nothing changes', async () => {
  app = await stack.addApp('svc', { scopes: 'streams' });
  const r = await stack.ctl(['connection', 'remove', 'demo'], { expect: null });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /active app/);
  assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);
});

test('after revoking its apps the connection goes, sealed secrets included, audited', async () => {
  assert.equal((await stack.ctl(['app', 'revoke', 'svc'])).code, 0);
  assert.equal((await stack.ctl(['connection', 'remove', 'demo'])).code, 0);
  assert.equal((await stack.ctl(['connection', 'show', 'demo'], { expect: null })).code, 1);
  assertRefused(await stack.token(app, 'streams'), 401, 'invalid_client');
  const copy = join(stack.paths.dataDir, 'after-remove.db');
  if (!stack.pg) assert.equal((await stack.ctl(['backup', copy])).code, 0);
  const q = (sql) => (stack.pg ? stack.sql(sql) : execFileSync('sqlite3', [copy, sql], { encoding: 'utf8' }).trim());
  assert.equal(q('SELECT count(*) FROM connection_secrets'), '0');
  assert.equal(q('SELECT count(*) FROM connections'), '0');
  const tail = JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', '20'])).stdout).records;
  assert.ok(tail.some((r) => r.event === 'connection.remove' && r.connection === 'demo' && r.outcome === 'ok'));
  const v = await stack.ctl(['audit', 'verify']);
  assert.match(v.stdout, /audit chain ok/);
});
