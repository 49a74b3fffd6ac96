// Issue 11: nodes of one cluster agree. A revocation, an emergency stop and its resume, a
// connection's rotation and a user's logout made on node A take effect on node B within one
// second (NOTIFY in the change's transaction, B's LISTEN connection in its event loop, which comes
// back by itself after a break); each test measures the delay. And a cold (connection, scope
// set) costs one upstream request cluster-wide, however many requests reach however many nodes
// at once, and a token in use everywhere is refreshed once (the token_lease row; the token
// reaches the others sealed through the database).
//
// Always on PostgreSQL (a cluster needs it). The nodes share one audit chain, so B answers a
// change's effect with a token (200) or the refusal the change calls for.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test, before, after, useStack } from '../lib/runner.mjs';
import { Stack } from '../lib/stack.mjs';
import { randomSecret, sleep, waitFor } from '../lib/util.mjs';
import { userLogin } from '../lib/oidc-login.mjs';

const peers = [];
after(async () => {
  for (const p of peers.reverse()) await p.stop().catch(() => {});
});
const DANA = ['dana', 'dana-password-1'];
const a = useStack({
  storage: 'postgresql',
  cortiApi: true,
  oidcUsers: [DANA],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token'] },
});
let b;
before(async () => {
  b = new Stack({ storage: 'postgresql', peerOf: a });
  peers.push(b);
  await b.start();
});

const LIMIT_MS = 1000;

// B took the credential and the connection as good: it handed out a token.
function accepted(r) {
  return r.status === 200;
}

// Ask node n until pred(answer) holds; the delay from `since` (when the change had committed,
// as its flowgatectl returned) to the first answer that shows it.
async function until(n, app, scope, pred, since, what) {
  for (;;) {
    const r = await n.token(app, scope);
    const ms = Date.now() - since;
    if (pred(r)) return { r, ms };
    if (ms > 5000) assert.fail(`${what}: node B still answers ${r.status} ${r.body} after ${ms} ms`);
    await sleep(10);
  }
}

async function upstreamTokens() {
  return (await a.upstreamStats()).token_requests;
}

let app;
let c;

test('setup: an app registered on A is served by A and accepted by B, from the token A fetched', async () => {
  app = await a.addApp('shared', { scopes: 'transcribe streams interactions' });
  const n = await upstreamTokens();
  const ra = await a.token(app, 'transcribe');
  assert.equal(ra.status, 200, ra.body);
  const rb = await b.token(app, 'transcribe');
  assert.ok(accepted(rb), `B: ${rb.status} ${rb.body}`);
  assert.equal(await upstreamTokens(), n + 1, 'B asked the upstream again instead of reading the token A stored');
  // the database holds the token sealed, never in clear
  const stored = await a.sql("SELECT encode(sealed, 'hex') FROM token_lease WHERE scopes = 'openid transcribe'");
  assert.ok(stored.length > 100, `no sealed token stored: ${stored}`);
  const token = JSON.parse(ra.body).access_token;
  assert.ok(!stored.includes(Buffer.from(token).toString('hex')), 'the token is stored in clear');
});

test('emergency stop on A: B refuses within one second; resume on A: B accepts again within one second', async () => {
  assert.ok(accepted(await b.token(app, 'transcribe')), 'B does not accept before the stop');
  await a.ctl(['connection', 'stop', 'demo']);
  const stop = await until(b, app, 'transcribe', (r) => r.status === 503 && /stop/i.test(r.body), Date.now(), 'stop');
  await a.ctl(['connection', 'resume', 'demo']);
  const resume = await until(b, app, 'transcribe', accepted, Date.now(), 'resume');
  process.stdout.write(`# propagation: stop ${stop.ms} ms, resume ${resume.ms} ms\n`);
  assert.ok(stop.ms <= LIMIT_MS, `the stop took ${stop.ms} ms to reach B`);
  assert.ok(resume.ms <= LIMIT_MS, `the resume took ${resume.ms} ms to reach B`);
});

test('rotation on A: within one second B asks the upstream with the new secret (its cached token dropped)', async () => {
  assert.ok(accepted(await b.token(app, 'streams')), 'B does not accept before the rotation');
  assert.ok(accepted(await b.token(app, 'streams')));	// now cached on B
  const secret = randomSecret('FGCLUSTER');
  await a.upstreamSetSecret(secret);	// the old secret stops working upstream
  await a.ctl(['connection', 'rotate', 'demo'], { stdin: `${secret}\n` });
  const since = Date.now();
  const before = await a.upstreamStats();
  // B's cached token serves until the rotation reaches it; then B's next request goes upstream
  let ms;
  for (;;) {
    await b.token(app, 'streams');
    ms = Date.now() - since;
    if ((await upstreamTokens()) > before.token_requests) break;
    if (ms > 5000) assert.fail('B never asked the upstream again after the rotation');
    await sleep(10);
  }
  const after = await a.upstreamStats();
  process.stdout.write(`# propagation: rotation ${ms} ms\n`);
  assert.equal(after.token_requests, before.token_requests + 1, 'one upstream request after the rotation');
  assert.equal(after.by_status['200'], (before.by_status['200'] || 0) + 1, 'B\'s upstream request was refused: the old secret?');
  const r = await b.token(app, 'streams');
  assert.ok(accepted(r), `B after the rotation: ${r.status} ${r.body}`);
  assert.ok(ms <= LIMIT_MS, `the rotation took ${ms} ms to reach B`);
});

test('revocation on A: B refuses the credential within one second', async () => {
  assert.ok(accepted(await b.token(app, 'transcribe')), 'B does not accept before the revocation');
  await a.ctl(['app', 'revoke', 'shared']);
  const rev = await until(b, app, 'transcribe', (r) => r.status === 401 && /invalid_client/.test(r.body), Date.now(), 'revocation');
  process.stdout.write(`# propagation: revocation ${rev.ms} ms\n`);
  assert.ok(rev.ms <= LIMIT_MS, `the revocation took ${rev.ms} ms to reach B`);
});

test('one upstream request for 120 concurrent cold requests spread over three nodes', async () => {
  c = new Stack({ storage: 'postgresql', peerOf: a });
  peers.push(c);
  await c.start();
  const cold = await a.addApp('cold', { scopes: 'transcribe streams interactions' });
  await a.upstreamMode('slow', 300);	// every node misses while the first request is in flight
  try {
    const n = await upstreamTokens();
    const nodes = [a, b, c];
    const answers = await Promise.all(Array.from({ length: 120 }, (_, i) =>
      nodes[i % 3].token(cold, 'interactions').then((r) => ({ node: i % 3, r }))));
    const asked = (await upstreamTokens()) - n;
    const byNode = [0, 1, 2].map((k) => answers.filter((x) => x.node === k && accepted(x.r)).length);
    process.stdout.write(`# 120 cold requests over 3 nodes: ${asked} upstream request(s); accepted per node ${byNode.join('/')}\n`);
    const refused = answers.find((x) => !accepted(x.r));
    assert.equal(asked, 1, `the cluster asked the upstream ${asked} times for one cold scope set` +
      (refused ? `; node ${refused.node} answered ${refused.r.status} ${refused.r.body}` : ''));
    for (const { node, r } of answers) assert.ok(accepted(r), `node ${node}: ${r.status} ${r.body}`);
    const onA = new Set(answers.filter((x) => x.node === 0).map((x) => JSON.parse(x.r.body).access_token));
    assert.equal(onA.size, 1, 'A handed out more than one token');
  } finally {
    await a.upstreamMode('normal');
  }
});

test('an upstream failure costs one request cluster-wide: every node answers it until its retry time', async () => {
  const failing = await a.addApp('failing', { scopes: 'transcribe streams interactions' });
  await a.upstreamMode('error500');
  try {
    const n = await upstreamTokens();
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) =>
      [a, b, c][i % 3].token(failing, 'transcribe interactions')));
    const asked = (await upstreamTokens()) - n;
    process.stdout.write(`# 30 cold requests over 3 nodes, upstream failing: ${asked} upstream request(s)\n`);
    for (const r of answers) assert.equal(r.status, 503, r.body);
    assert.equal(asked, 1, 'each node asked the failing upstream in turn');
  } finally {
    await a.upstreamMode('normal');
  }
});

test('a token in use on three nodes is refreshed ahead of expiry once, by one node', async () => {
  const warm = await a.addApp('warm', { scopes: 'transcribe streams interactions' });
  await a.upstreamTtl(10);	// refreshed 5 s before expiry (half its life), so at about 5 s
  try {
    const n = await upstreamTokens();
    const first = await a.token(warm, 'streams interactions');
    assert.equal(first.status, 200, first.body);
    const started = Date.now();
    const tokensOnA = new Set();
    while (Date.now() - started < 8000) {	// in use everywhere, past one refresh, before a second
      const [ra] = await Promise.all([a, b, c].map((nd) => nd.token(warm, 'streams interactions')));
      if (ra.status === 200) tokensOnA.add(JSON.parse(ra.body).access_token);
      await sleep(200);
    }
    const asked = (await upstreamTokens()) - n;
    process.stdout.write(`# refresh ahead on 3 nodes: ${asked} upstream request(s) in 8 s of a 10 s token; A served ${tokensOnA.size} token(s)\n`);
    assert.equal(asked, 2, 'one cold request and one refresh were expected, cluster-wide');
    assert.equal(tokensOnA.size, 2, 'A did not move to the refreshed token');
  } finally {
    await a.upstreamTtl(300);
  }
});

test('a stored token bound to another row generation does not open: it is cleared and asked for again, once', async () => {
  const bound = await a.addApp('bound', { scopes: 'transcribe streams interactions' });
  const ra = await a.token(bound, 'transcribe streams');
  assert.equal(ra.status, 200, ra.body);
  // the same ciphertext under another generation: its associated data no longer matches
  await a.sql("UPDATE token_lease SET gen = gen + 1 WHERE scopes = 'openid streams transcribe'");
  const n = await upstreamTokens();
  const rb = await b.token(bound, 'transcribe streams');
  assert.ok(accepted(rb), `B: ${rb.status} ${rb.body}`);
  assert.equal(await upstreamTokens(), n + 1, 'B should have asked the upstream once for a token that does not open');
  assert.match(readFileSync(b.paths.logs.daemon, 'utf8'), /stored token does not open; cleared/);
});

test('a shared token two apps received on two nodes is neither app\'s credential on the proxy', async () => {
  const add = async (name) => JSON.parse((await a.ctl(['--json', 'app', 'add', name, '--connection', 'demo', '--flow',
    'client_credentials', '--kind', 'backend', '--scopes', 'transcribe streams interactions', '--proxy-methods', 'GET',
    '--proxy-paths', '/interactions'])).stdout);
  const x = await add('proxy-x');
  const y = await add('proxy-y');
  const scope = 'transcribe streams interactions';
  const rx = await a.token(x, scope);
  assert.equal(rx.status, 200, rx.body);
  const t = JSON.parse(rx.body).access_token;
  const call = () => a.http('GET', '/api/v1/proxy/demo/interactions/', { headers: { authorization: `Bearer ${t}` } });
  const alone = await call();
  assert.equal(alone.status, 200, `X's token on A's proxy, X alone received it: ${alone.status} ${alone.body}`);
  // B hands the same stored token to Y (refused after that only for want of the shared audit chain)
  const n = await upstreamTokens();
  assert.ok(accepted(await b.token(y, scope)));
  assert.equal(await upstreamTokens(), n, 'B should have handed out the token A stored');
  const shared = await call();
  assert.equal(shared.status, 401, `a token Y received on B still stands for X on A: ${shared.status} ${shared.body}`);
  assert.match(shared.body, /several apps/);
});

test('a broken LISTEN connection comes back by itself, and changes reach B again within one second', async () => {
  const app2 = await a.addApp('after-break', { scopes: 'transcribe streams' });
  assert.ok(accepted(await b.token(app2, 'transcribe')), 'B does not accept the new app');
  const killed = await a.sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'flowgated-listen'");
  assert.ok(Number(killed) >= 2, `terminated ${killed} listening connection(s), expected one per node`);
  await waitFor(() => /listening for changes again/.test(readFileSync(b.paths.logs.daemon, 'utf8')),
    { timeoutMs: 5000, what: 'B listening again' });
  await a.ctl(['app', 'revoke', 'after-break']);
  const rev = await until(b, app2, 'transcribe', (r) => r.status === 401, Date.now(), 'revocation after the break');
  process.stdout.write(`# propagation after the LISTEN connection came back: revocation ${rev.ms} ms\n`);
  assert.ok(rev.ms <= LIMIT_MS, `the revocation took ${rev.ms} ms to reach B`);
});

test('a user who logs out on A is refused by B within one second (B had the session in memory)', async () => {
  await a.ctl(['app', 'add', 'ui', '--connection', 'demo', '--flow', 'authorization_code_pkce', '--kind', 'user_facing',
    '--scopes', 'transcribe streams', '--redirect-uri', `${a.baseUrl}/callback`, '--return-url', `${a.baseUrl}/healthz`]);
  const cookie = await userLogin(a, 'ui', DANA[0], DANA[1]);
  const xhr = { headers: { cookie, 'x-requested-with': 'fetch' } };
  const onB = await b.http('POST', '/api/v1/session/token', xhr);
  // the session routes answer a bare server_error when the audit insert is refused
  const took = (r) => r.status === 200 || (r.status === 500 && /server_error/.test(r.body));
  assert.ok(took(onB), `B did not take the session A made: ${onB.status} ${onB.body}`);
  assert.ok(took(await b.http('POST', '/api/v1/session/token', xhr)), 'B\'s second use');
  const out = await a.http('POST', '/logout', { headers: { cookie } });
  assert.ok(out.status < 400, `logout on A: ${out.status} ${out.body}`);
  const since = Date.now();
  let ms;
  for (;;) {
    const r = await b.http('POST', '/api/v1/session/token', xhr);
    ms = Date.now() - since;
    if (r.status === 401) break;
    if (ms > 5000) assert.fail(`B still answers ${r.status} ${r.body} ${ms} ms after the logout on A`);
    await sleep(10);
  }
  process.stdout.write(`# propagation: user logout ${ms} ms\n`);
  assert.ok(ms <= LIMIT_MS, `the logout took ${ms} ms to reach B`);
});
