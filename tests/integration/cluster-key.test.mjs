// Issue 11: a master key rotation on one node of a cluster is followed by every node within a
// second (the rotation's transaction NOTIFYs 'key', each node loads the key the database now
// names from its own key_file.next); a node that was not given the new key stops, naming it,
// rather than seal what the others cannot open.
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync, chownSync, readFileSync } from 'node:fs';
import { test, useStack, after, needStorage } from '../lib/runner.mjs';
import { Stack, userIds, DAEMON_USER } from '../lib/stack.mjs';
import { waitFor } from '../lib/util.mjs';

needStorage('postgresql', 'several nodes share one PostgreSQL');
const a = useStack({ storage: 'postgresql' });
let b;
let c;
let app;
after(async () => { for (const n of [b, c]) if (n) await n.stop(); });

const keyId = async (node) => (await node.ctl(['key', 'status'], { json: true })).json.key_id;

/** Give node the key file at path as its key_file.next, owned by the daemon's user, 0600. */
function giveNext(node, path) {
  const d = userIds(DAEMON_USER);
  copyFileSync(path, `${node.paths.keyFile}.next`);
  chmodSync(`${node.paths.keyFile}.next`, 0o600);
  chownSync(`${node.paths.keyFile}.next`, d.uid, d.gid);
}

test('setup: three nodes with one key; B is given the next key, C is not', async () => {
  b = new Stack({ storage: 'postgresql', peerOf: a });
  c = new Stack({ storage: 'postgresql', peerOf: a });
  await b.start();
  await c.start();
  app = await a.addApp('svc', { scopes: 'transcribe streams interactions' });
  for (const n of [a, b, c]) assert.equal((await n.token(app, 'streams')).status, 200);
  const next = `${a.paths.keyFile}.next`;
  await a.ctl(['key', 'new', next]);
  const d = userIds(DAEMON_USER);
  chownSync(next, d.uid, d.gid);
  giveNext(b, next);
  assert.equal(await keyId(b), await keyId(a));
});

test('a rotation on A: B takes the new key within a second and opens what is sealed under it', async () => {
  const old = await keyId(a);
  const r = await a.ctl(['key', 'rotate'], { json: true, timeoutMs: 60000 });
  const t0 = Date.now();
  const fresh = await keyId(a);
  assert.notEqual(fresh, old, JSON.stringify(r.json));
  await waitFor(async () => (await keyId(b)) === fresh, { timeoutMs: 1000, intervalMs: 20, what: 'B on the new key' });
  console.log(`# B followed the rotation ${Date.now() - t0} ms after it returned`);
  // a scope set nobody asked for: B itself opens the connection secret (re-sealed) to ask upstream
  const before = (await a.upstreamStats()).token_requests;
  const t = await b.token(app, 'interactions');
  assert.equal(t.status, 200, t.body);
  assert.equal((await a.upstreamStats()).token_requests, before + 1, 'B did not ask the upstream itself');
});

test('C, which lacks the new key, stops and says which key it needs; A and B serve on', async () => {
  await waitFor(() => !c.daemonAlive(), { timeoutMs: 3000, what: 'C stopping' });
  const log = readFileSync(c.paths.logs.daemon, 'utf8');
  assert.match(log, /cannot follow: no master key opens this database: it was sealed by key k1:[0-9a-f]{32}/, log.slice(-800));
  for (const n of [a, b]) assert.equal((await n.token(app, 'transcribe')).status, 200);
  const v = await a.ctl(['audit', 'verify'], { expect: null });
  assert.equal(v.code, 0, v.stdout + v.stderr);
});
