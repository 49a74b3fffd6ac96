// Issue 11: work that must run once per cluster runs on the holder of one lease (a row renewed
// by PostgreSQL's clock). With two nodes exactly one holds it; kill -9 the holder and the other
// takes it over within the lease time and runs the singleton work a dead holder left: a previous
// secret whose grace period ended is retired once, with one audit record naming the new holder.
// On SQLite the single node always holds the lease.
import assert from 'node:assert/strict';
import { test, useStack, after } from '../lib/runner.mjs';
import { Stack } from '../lib/stack.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';
import { randomSecret } from '../lib/util.mjs';

const a = useStack();
let b;
after(async () => { if (b) await b.stop(); });

const status = async (node) => (await node.ctl(['status'], { json: true })).json;
const holderRow = () => a.sql("SELECT holder FROM cluster_lease WHERE name = 'singleton' AND expires_at > now()");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Poll fn until it returns something truthy, for at most ms. */
async function within(ms, fn, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await sleep(250);
  }
}

test('status names this node (hostname:pid:random) and whether it holds the lease', async () => {
  const s = await status(a);
  assert.match(s.node, /^[^:]+:\d+:[0-9a-f]{8}$/, JSON.stringify(s));
  assert.match(s.node, new RegExp(`:${a.daemonPid}:`), 'the node name carries the daemon pid');
  const plain = (await a.ctl(['status'])).stdout;
  assert.match(plain, /^node\s+\S+:\d+:[0-9a-f]{8}$/m, plain);
  if (!a.pg) {	// one SQLite node: always the holder
    assert.equal(s.lease_held, true);
    assert.equal(s.lease_holder, s.node);
  }
});

test('two nodes: exactly one holds the lease, and the database names it', async () => {
  if (!a.pg) return console.log('# skipped: a cluster needs PostgreSQL (FLOWGATE_TEST_STORAGE=postgresql)');
  b = new Stack({ storage: 'postgresql', peerOf: a });
  await b.start();
  const [sa, sb] = await within(15000, async () => {
    const s = [await status(a), await status(b)];
    return s.every((x) => x.lease_holder) ? s : null;
  }, 'a lease holder');
  assert.notEqual(sa.node, sb.node);
  assert.equal([sa, sb].filter((s) => s.lease_held).length, 1, JSON.stringify([sa, sb]));
  const holder = [sa, sb].find((s) => s.lease_held).node;
  assert.equal(sa.lease_holder, holder);
  assert.equal(sb.lease_holder, holder);
  assert.equal(holderRow(), holder);
});

test('kill -9 the holder: the other node takes the lease over and retires a due previous secret once', async () => {
  if (!a.pg) return console.log('# skipped: a cluster needs PostgreSQL (FLOWGATE_TEST_STORAGE=postgresql)');
  const nodes = [a, b];
  const s = [await status(a), await status(b)];
  const hi = s.findIndex((x) => x.lease_held);
  assert.ok(hi >= 0, JSON.stringify(s));
  const [holder, other] = [nodes[hi], nodes[1 - hi]];
  const otherName = s[1 - hi].node;
  const app = await other.addApp('svc', { scopes: 'transcribe' });
  // a rotation with a 2 s grace period, asked of the holder, which is killed right after: when
  // the grace period ends, only the other node is left to retire the previous secret
  const newSecret = randomSecret('FGNEW');
  await holder.upstreamSetSecret(newSecret);
  await holder.ctl(['connection', 'rotate', 'demo', '--grace', '2'], { stdin: `${newSecret}\n` });
  const killedAt = Date.now();
  await holder.killDaemon('SIGKILL');
  const retired = () => Number(a.sql("SELECT count(*) FROM audit WHERE event = 'connection.secret_retired'"));
  assert.equal(retired(), 0, 'retired before the grace period ended');
  await within(20000, async () => (await status(other)).lease_held, 'the other node taking the lease over');
  const took = Date.now() - killedAt;
  console.log(`# the other node took the lease over ${took} ms after the kill`);
  assert.equal(holderRow(), otherName);
  await within(5000, () => retired() === 1, 'the previous secret retired by the new holder');
  const detail = a.sql("SELECT detail FROM audit WHERE event = 'connection.secret_retired'");
  assert.match(detail, new RegExp(`node=${otherName.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`), detail);
  assert.equal(a.sql('SELECT count(*) FROM connection_secrets WHERE connection_id = (SELECT id FROM connections WHERE name = \'demo\')'), '1');
  // the killed node restarts and rejoins without taking the lease from a live holder
  await holder.startDaemon();
  assertToken(await holder.token(app, 'transcribe'));
  const back = await status(holder);
  assert.equal(back.lease_held, false, JSON.stringify(back));
  assert.equal(back.lease_holder, otherName);
  assert.equal(retired(), 1, 'the previous secret was retired more than once');
  const v = await other.ctl(['audit', 'verify'], { expect: null });
  assert.equal(v.code, 0, v.stdout + v.stderr);
});
