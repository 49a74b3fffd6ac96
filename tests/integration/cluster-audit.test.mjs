// Issue 11: three nodes on one PostgreSQL append to one audit chain. Tokens are asked of all
// three at once (interleaved commit groups); afterwards every node's `audit verify` walks the
// whole chain, the chain holds exactly one issuance record per token handed out, with that
// token's fingerprint, and no record of the test is missing. Without a cluster-wide tail each
// node numbers records from its own head and the second node's commits fail (duplicate seq).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawn } from 'node:child_process';
import { test, useStack, after } from '../lib/runner.mjs';
import { Stack } from '../lib/stack.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';

const a = useStack();
const peers = [];
after(async () => { for (const p of peers) await p.stop(); });

const fp = (t) => `sha256:${createHash('sha256').update(t).digest('hex').slice(0, 32)}`;
const issued = () => Number(a.sql("SELECT count(*) FROM audit WHERE event = 'token.issue'"));
let app;

test('setup: two more nodes join the first one\'s PostgreSQL', async () => {
  if (!a.pg) return console.log('# skipped: a cluster needs PostgreSQL (FLOWGATE_TEST_STORAGE=postgresql)');
  for (let i = 0; i < 2; i++) {
    const p = new Stack({ storage: 'postgresql', peerOf: a });
    peers.push(p);
    await p.start();
  }
  app = await a.addApp('svc', { scopes: 'transcribe streams' });
});

test('200 tokens asked of three nodes at once: one chain, every token recorded, verified on each node', async () => {
  if (!a.pg) return console.log('# skipped: a cluster needs PostgreSQL (FLOWGATE_TEST_STORAGE=postgresql)');
  const nodes = [a, ...peers];
  const scopes = ['transcribe', 'streams', 'transcribe streams'];
  const before = issued();
  const received = new Map();	// fingerprint -> times handed out
  let n = 0;
  // 20 waves of 10 requests, each wave spread over the three nodes in parallel
  for (let w = 0; w < 20; w++) {
    const replies = await Promise.all(Array.from({ length: 10 }, (_, k) =>
      nodes[(w + k) % 3].token(app, scopes[k % 3])));
    for (const r of replies) {
      const f = fp(assertToken(r).access_token);
      received.set(f, (received.get(f) || 0) + 1);
      n++;
    }
  }
  assert.equal(n, 200);
  assert.equal(issued() - before, 200, 'issuance records do not match the tokens handed out');
  const recorded = new Map(a.sql("SELECT token_fp, count(*) FROM audit WHERE event = 'token.issue' " +
    'GROUP BY token_fp').split('\n').map((l) => l.split('|')).map(([f, c]) => [f, Number(c)]));
  for (const [f, c] of received) assert.ok((recorded.get(f) || 0) >= c, `token ${f} handed out ${c} times, recorded ${recorded.get(f) || 0}`);
  // every node's seq is the chain's: no gaps, and each node wrote some of it
  const total = Number(a.sql('SELECT count(*) FROM audit'));
  assert.equal(Number(a.sql('SELECT max(seq) FROM audit')), total, 'the chain has gaps');
  for (const node of nodes) {
    const v = await node.ctl(['audit', 'verify'], { expect: null });
    assert.equal(v.code, 0, v.stdout + v.stderr);
    const m = v.stdout.match(/audit chain ok: (\d+) records/);
    assert.ok(m && Number(m[1]) >= total, `verify on a node saw ${m && m[1]} of ${total} records`);
  }
  // the MAC'd head follows within a second (each node that committed anchors the cluster's tail)
  const end = Date.now() + 10000;
  while (Number(a.sql('SELECT seq FROM audit_head WHERE id = 1')) < total && Date.now() < end) await new Promise((r) => setTimeout(r, 200));
  assert.equal(Number(a.sql('SELECT seq FROM audit_head WHERE id = 1')), total, 'the head did not reach the chain\'s tail');
});

test('a node restarted after others moved the head starts clean (no tampering recorded)', async () => {
  if (!a.pg) return console.log('# skipped: a cluster needs PostgreSQL (FLOWGATE_TEST_STORAGE=postgresql)');
  await peers[0].killDaemon('SIGTERM');
  for (let i = 0; i < 5; i++) assert.equal((await a.token(app, 'transcribe')).status, 200);
  await peers[0].startDaemon();
  assert.equal((await peers[0].token(app, 'streams')).status, 200);
  assert.equal(a.sql("SELECT count(*) FROM audit WHERE event = 'audit.tamper'"), '0');
  const v = await peers[0].ctl(['audit', 'verify'], { expect: null });
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('a commit waits for the chain\'s cluster-wide lock: held elsewhere, the token leaves only after its release', async () => {
  if (!a.pg) return console.log('# skipped: a cluster needs PostgreSQL (FLOWGATE_TEST_STORAGE=postgresql)');
  assertToken(await peers[1].token(app, 'transcribe'));	// cached from here on: only the record is written
  const before = issued();
  // another session takes the chain's advisory lock (key 4605, schema/pg 009) and keeps it 3 s
  const holder = spawn('psql', [a.pg.conninfo, '-X', '-q', '-c', 'SELECT pg_advisory_lock(4605)', '-c', 'SELECT pg_sleep(3)'], { stdio: 'ignore' });
  const gone = new Promise((r) => holder.once('exit', r));
  const held = () => a.sql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4605 AND granted") === '1';
  while (!held()) await new Promise((r) => setTimeout(r, 20));
  const t0 = Date.now();
  const r = await peers[1].token(app, 'transcribe');
  const waited = Date.now() - t0;
  await gone;
  assertToken(r);
  console.log(`# the token waited ${waited} ms for the lock`);
  assert.ok(waited >= 1500, `the token left after ${waited} ms while another session held the chain's lock for 3 s`);
  assert.equal(issued() - before, 1);
  const v = await peers[1].ctl(['audit', 'verify'], { expect: null });
  assert.equal(v.code, 0, v.stdout + v.stderr);
});
