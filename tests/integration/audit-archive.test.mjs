// Retention (issue 8): the oldest audit records move to an archive file and are pruned from the
// table, and the chain stays verifiable end to end: the table's chain starts at a MAC'd base,
// the archive carries its own anchors, and a tampered archive or base is found out.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, useStack, needStorage } from '../lib/runner.mjs';
import { FrameConn, encodeFrame } from '../lib/frame.mjs';
import { userIds, DAEMON_USER } from '../lib/stack.mjs';


needStorage('sqlite', 'archives are SQLite files made with ATTACH; flowgate refuses them on postgresql for now');
const stack = useStack({});
const sqlite = (db, sql) => execFileSync('sqlite3', ['-batch', '-bail', db, sql], { encoding: 'utf8' }).trim();
let first;

async function records(n) {
  const app = await stack.addApp(`arch-${Date.now()}`, { scopes: 'transcribe' });
  const req = { verb: 'token', client_id: app.client_id, client_secret: app.client_secret,
    grant_type: 'client_credentials', scope: 'streams' };
  const c = await FrameConn.open(stack.paths.daemonSocket);
  c.send(Buffer.concat(Array.from({ length: n }, (_, i) => encodeFrame(req, { id: i + 1 }))));
  for (let i = 0; i < n; i++) await c.next(30000);
  c.close();
}
const verify = () => stack.ctl(['audit', 'verify'], { expect: null });
const oldest = async () => {
  const r = JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', '100000'])).stdout);
  return r.records[0].seq;
};

test('archive the oldest 3,000 of 5,000 records: the table keeps the rest, the chain verifies', async () => {
  await records(5000);
  first = join(stack.paths.dataDir, 'archive-1.db');
  const r = await stack.ctl(['--json', 'audit', 'archive', '--before', '3000', first]);
  assert.equal(JSON.parse(r.stdout).to, 3000, r.stdout);
  assert.equal(await oldest(), 3001);
  const v = await verify();
  assert.equal(v.code, 0, v.stdout + v.stderr);
  assert.match(v.stdout, /audit chain ok/);
  const a = await stack.ctl(['audit', 'verify-archive', first], { expect: null });
  assert.equal(a.code, 0, a.stdout + a.stderr);
});

test('a second archive continues where the first ended; one that goes back is refused', async () => {
  const back = await stack.ctl(['audit', 'archive', '--before', '2000', join(stack.paths.dataDir, 'x.db')], { expect: null });
  assert.notEqual(back.code, 0);
  const second = join(stack.paths.dataDir, 'archive-2.db');
  await stack.ctl(['audit', 'archive', '--before', '4500', second]);
  assert.equal(await oldest(), 4501);
  assert.equal((await verify()).code, 0);
  assert.equal((await stack.ctl(['audit', 'verify-archive', second], { expect: null })).code, 0);
  assert.equal(sqlite(second, 'SELECT min(seq) || \'-\' || max(seq) FROM audit'), '3001-4500');
});

test('a changed record in an archive, or a moved base in the table, is found out', async () => {
  sqlite(first, "UPDATE audit SET detail = 'nothing happened' WHERE seq = 1500");
  const a = await stack.ctl(['audit', 'verify-archive', first], { expect: null });
  assert.notEqual(a.code, 0, a.stdout);
  assert.match(a.stderr, /hash|match/, a.stderr);
  await stack.killDaemon('SIGTERM');
  sqlite(stack.paths.database, 'UPDATE audit_base SET seq = 4000');
  const d = userIds(DAEMON_USER);
  for (const f of readdirSync(stack.paths.dataDir)) {
    chownSync(join(stack.paths.dataDir, f), d.uid, d.gid);
    chmodSync(join(stack.paths.dataDir, f), 0o600);
  }
  await stack.startDaemon();
  const v = await verify();
  assert.equal(v.code, 1, v.stdout + v.stderr);
  assert.match(v.stderr, /base/, v.stderr);
});
