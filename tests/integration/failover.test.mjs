// Issue 11: three nodes (daemon + FastCGI pool each) on one PostgreSQL behind one nginx whose
// upstream group is contrib/nginx/flowgate-nodes.conf.  Under a steady token load one daemon is
// killed with SIGKILL: only requests in flight on that node may fail (counted), none once nginx
// has noticed; no audit record is lost; the restarted node serves again.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test, useStack, after, needStorage } from '../lib/runner.mjs';
import { Stack } from '../lib/stack.mjs';
import { sleep, waitFor } from '../lib/util.mjs';
import { addUser } from '../lib/web.mjs';
import { httpLogin } from '../lib/browser.mjs';

needStorage('postgresql', 'several nodes share one PostgreSQL');
const a = useStack({ storage: 'postgresql', fcgiWorkers: 2 });
const peers = [];
after(async () => { for (const p of peers) await p.stop(); });

const fp = (t) => `sha256:${createHash('sha256').update(t).digest('hex').slice(0, 32)}`;
const received = new Map();	// fingerprint -> times handed out
let app;

/** Tokens until stop(); each answer with the time it came, relative to t0. */
function load(workers, t0) {
  const answers = [];
  let running = true;
  const one = async () => {
    while (running) {
      const sent = Date.now() - t0;
      const r = await a.token(app, ['transcribe', 'streams'][answers.length % 2]);
      answers.push({ sent, at: Date.now() - t0, status: r.status });
      if (r.status === 200) received.set(fp(r.json.access_token), (received.get(fp(r.json.access_token)) || 0) + 1);
    }
  };
  const all = Promise.all(Array.from({ length: workers }, one));
  return { answers, stop: async () => { running = false; await all; } };
}

/** Tokens node n's daemon has handed out so far (its own counter). */
async function issuedBy(node) {
  const s = JSON.parse((await node.ctl(['--json', 'status'])).stdout).stats;
  return s.tokens_issued;
}

test('three nodes behind one nginx all serve', async () => {
  for (let i = 0; i < 2; i++) {
    const p = new Stack({ storage: 'postgresql', peerOf: a, noNginx: true, fcgiWorkers: 2 });
    peers.push(p);
    await p.start();
  }
  await a.serveNodes(peers);
  app = await a.addApp('svc', { scopes: 'transcribe streams' });
  const before = await Promise.all([a, ...peers].map(issuedBy));
  for (let i = 0; i < 30; i++) assert.equal((await a.token(app, 'streams')).status, 200);
  const after1 = await Promise.all([a, ...peers].map(issuedBy));
  assert.ok(after1.every((n, i) => n > before[i]), `not every node served: ${before} -> ${after1}`);
});

test('an admin UI session works whichever node a request lands on', async () => {
  await addUser(a, 'ops', 'admin', 'ops-password-for-nodes');
  const { cookie } = await httpLogin(a, 'ops', 'ops-password-for-nodes');
  const requests = async () => Promise.all([a, ...peers].map(async (n) =>
    JSON.parse((await n.ctl(['--json', 'status'])).stdout).stats.requests));
  const before = await requests();
  for (let i = 0; i < 12; i++) {
    const page = await a.http('GET', '/admin/account', { headers: { cookie } });
    assert.equal(page.status, 200, `request ${i}: ${page.status}`);
    assert.match(page.body, /ops/);
  }
  // nginx spreads requests over the pools: each node's daemon checked the session some times
  const after1 = await requests();
  assert.ok(after1.every((n, i) => n > before[i] + 1), `not every node saw the session: ${before} -> ${after1}`);
});

test('kill -9 one daemon under load: only its in-flight requests fail, none after nginx notices; it rejoins', async () => {
  const victim = peers[0];
  const t0 = Date.now();
  const l = load(6, t0);
  let killedAt;
  try {
    await sleep(1500);
    killedAt = Date.now() - t0;
    await victim.killDaemon('SIGKILL');
    await sleep(3000);
    await victim.startDaemon();
    const rejoined = await issuedBy(victim);
    await waitFor(async () => (await issuedBy(victim)) > rejoined, { timeoutMs: 10000, what: 'the restarted node serving' });
    await sleep(500);
  } finally {
    await l.stop();
  }
  const failed = l.answers.filter((x) => x.status !== 200);
  const late = failed.filter((x) => x.sent > killedAt + 1000);
  console.log(`# ${l.answers.length} requests, ${failed.length} failed (${JSON.stringify(failed.map((x) => x.status))}), ` +
    `kill at ${killedAt} ms; failures sent more than 1 s after it: ${late.length}`);
  assert.ok(l.answers.length > 200, `only ${l.answers.length} requests`);
  assert.equal(late.length, 0, `requests failed after nginx had noticed: ${JSON.stringify(late.slice(0, 5))}`);
  assert.ok(failed.length <= 6 * 2, `${failed.length} failures: more than the requests that can be in flight on one node`);
}, { timeout: 60000 });

test('no audit record was lost: every token handed out has its record; the chain verifies on every node', async () => {
  const recorded = new Map();
  for (const f of a.sql("SELECT token_fp FROM audit WHERE event = 'token.issue' AND outcome = 'issued'").split('\n')) {
    recorded.set(f, (recorded.get(f) || 0) + 1);
  }
  assert.ok(received.size > 0, 'no token was handed out');
  const missing = [...received].filter(([f, n]) => (recorded.get(f) || 0) < n);
  assert.deepEqual(missing, [], `tokens handed out more often than recorded: ${JSON.stringify(missing.slice(0, 5))}`);
  for (const node of [a, ...peers]) {
    const v = await node.ctl(['audit', 'verify'], { expect: null });
    assert.equal(v.code, 0, v.stdout + v.stderr);
  }
});
