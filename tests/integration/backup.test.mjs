// Operations: an online backup goes through the daemon (it holds the database's exclusive lock);
// the copy is complete, private, audited, and holds sealed secrets only.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test, useStack, needStorage } from '../lib/runner.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';
import { userIds, DAEMON_USER } from '../lib/stack.mjs';
import { secretNeedles, findNeedles } from '../lib/util.mjs';


needStorage('sqlite', 'flowgatectl backup copies the SQLite file; PostgreSQL is backed up with pg_dump');
const stack = useStack();
let app;
let path;

test('flowgatectl backup writes a consistent copy while tokens are being issued', async () => {
  app = await stack.addApp('svc', { scopes: 'transcribe streams' });
  const busy = Promise.all(Array.from({ length: 50 }, (_, i) => stack.token(app, i % 2 ? 'streams' : 'transcribe')));
  path = join(stack.paths.dataDir, 'backup.db');
  const r = await stack.ctl(['backup', path]);
  assert.equal(r.code, 0, r.stderr);
  for (const t of await busy) assertToken(t);
  const st = statSync(path);
  assert.equal(st.mode & 0o777, 0o600, `backup mode ${(st.mode & 0o777).toString(8)}`);
  assert.equal(st.uid, userIds(DAEMON_USER).uid, 'backup not owned by the daemon user');
  const sql = (q) => execFileSync('sqlite3', ['-batch', '-bail', path, q], { encoding: 'utf8' }).trim();
  assert.equal(sql('PRAGMA integrity_check'), 'ok');
  assert.equal(sql("SELECT name FROM apps WHERE name = 'svc'"), 'svc');
  assert.equal(sql("SELECT count(*) FROM connection_secrets WHERE state = 'current'"), '1');
});

test('the backup holds the connection secret only sealed', () => {
  const hits = findNeedles(readFileSync(path), secretNeedles(stack.connectionSecret));
  assert.deepEqual(hits, [], `the backup holds the secret: ${hits}`);
});

test('a backup never overwrites a file, and is audited', async () => {
  const again = await stack.ctl(['backup', path], { expect: null });
  assert.equal(again.code, 1, again.stdout + again.stderr);
  assert.match(again.stderr, /exists/);
  const tail = JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', '200'])).stdout).records;
  const b = tail.filter((x) => x.event === 'backup');
  assert.deepEqual(b.map((x) => x.outcome), ['ok', 'failed'], JSON.stringify(b));
});
