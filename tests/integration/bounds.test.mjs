// Every pool the daemon keeps has a bound that a caller cannot push past (issue 8): the token
// cache (one entry per connection and scope set; idle and expired entries are freed), the
// API calls in flight per connection and the replies waiting for their audit records. Beyond a bound the answer is a quick 503, and the daemon
// keeps serving everyone else.
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { FrameConn, encodeFrame } from '../lib/frame.mjs';
import { sleep } from '../lib/util.mjs';

const stack = useStack({ cortiApi: true, upstreamConfig: { token_cache_max: 8, calls_per_connection: 4 },
  auditConfig: { held_max: 16 } });
let app;
const token = (scope) => stack.http('POST', '/oauth2/token', { form: { grant_type: 'client_credentials', scope },
  basic: [app.client_id, app.client_secret] });

test('setup: a backend allowed five scopes (31 distinct scope sets) with a proxy rule', async () => {
  const r = await stack.ctl(['--json', 'app', 'add', 'wide', '--connection', 'demo', '--flow', 'client_credentials',
    '--kind', 'backend', '--scopes', 'transcribe streams interactions s4 s5', '--proxy-methods', 'GET', '--proxy-paths', '/slow']);
  app = JSON.parse(r.stdout);
  assert.ok(app.client_secret, r.stdout);
});

test('the token cache holds at most token_cache_max entries; beyond it a quick 503, and expired ones make room', async () => {
  const sets = ['transcribe', 'streams', 'interactions', 's4', 's5', 'transcribe streams', 'transcribe s4', 'streams s4',
    'interactions s5', 's4 s5', 'transcribe s5'];
  await stack.upstreamTtl(2);	// short-lived: refreshed while in use (2 lifetimes), then idle
  const answers = [];
  for (const s of sets) answers.push(await token(s));
  const ok = answers.filter((r) => r.status === 200).length;
  const refused = answers.filter((r) => r.status === 503);
  assert.ok(ok <= 8 && ok >= 7, `tokens issued for ${ok} distinct scope sets: ${answers.map((r) => r.status)}`);
  assert.ok(refused.length >= 3, answers.map((r) => r.body).join('\n'));
  assert.match(refused[0].json.error_description, /too many distinct scope sets/);
  assert.ok(refused[0].headers['retry-after']);
  // a cached set is still served from the cache
  assert.equal((await token('transcribe')).status, 200);
  const st = JSON.parse((await stack.ctl(['--json', 'status'])).stdout);
  assert.ok(st.stats.token_cache_entries <= 8, JSON.stringify(st.stats));
  // once the tokens expire their entries are idle and make room for new sets
  await sleep(6500);
  const later = await token('interactions s4 s5');
  assert.equal(later.status, 200, later.body);
  await stack.upstreamTtl(300);
});

test('API calls in flight per connection are bounded: the rest get 503 at once, the first ones finish', async () => {
  const conn = await FrameConn.open(stack.paths.daemonSocket);
  const frames = [];
  for (let i = 1; i <= 10; i++) {
    frames.push(encodeFrame({ verb: 'proxy', client_id: app.client_id, client_secret: app.client_secret,
      connection: 'demo', method: 'GET', path: '/slow', query: 'ms=1500' }, { id: i }));
  }
  const t0 = Date.now();
  conn.send(Buffer.concat(frames));
  const replies = [];
  for (let i = 0; i < 10; i++) replies.push(await conn.next(10000));
  conn.close();
  const busy = replies.filter((r) => r && r.body.error === 'temporarily_unavailable');
  const done = replies.filter((r) => r && r.body.ok);
  assert.equal(done.length, 4, JSON.stringify(replies.map((r) => r && r.body)));
  assert.equal(busy.length, 6, JSON.stringify(replies.map((r) => r && r.body)));
  assert.match(busy[0].body.message, /too many calls/);
  assert.ok(replies.indexOf(busy[0]) < replies.indexOf(done[0]), 'the refusals came before the slow answers');
  assert.ok(Date.now() - t0 < 8000);
});

test('replies waiting for the audit are bounded (held_max): beyond it a quick 503, never a token without its record', async () => {
  const issued = async () => JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', '100000'])).stdout).records
    .filter((r) => r.event === 'token.issue' && r.outcome === 'issued' && r.app === 'wide').length;
  assert.equal((await token('transcribe')).status, 200);	// cached: every reply below waits only for its record
  const before = await issued();
  const PEERS = 6, EACH = 30;
  const conns = [];
  for (let i = 0; i < PEERS; i++) conns.push(await FrameConn.open(stack.paths.daemonSocket));
  // every peer's requests wait in its socket before the daemon reads any: one turn then takes
  // 16 frames of each peer, 96 replies held for one audit commit, far past held_max = 16
  process.kill(stack.daemonPid, 'SIGSTOP');
  try {
    for (const c of conns) {
      const frames = [];
      for (let i = 1; i <= EACH; i++) {
        frames.push(encodeFrame({ verb: 'token', client_id: app.client_id, client_secret: app.client_secret,
          grant_type: 'client_credentials', scope: 'transcribe' }, { id: i }));
      }
      c.send(Buffer.concat(frames));
    }
    await sleep(100);
  } finally {
    process.kill(stack.daemonPid, 'SIGCONT');
  }
  const replies = [];
  for (const c of conns) for (let i = 0; i < EACH; i++) replies.push(await c.next(20000));
  for (const c of conns) c.close();
  const ok = replies.filter((r) => r && r.body.ok && r.body.access_token);
  const full = replies.filter((r) => r && r.body.error === 'temporarily_unavailable');
  assert.equal(ok.length + full.length, PEERS * EACH, JSON.stringify(replies.filter((r) => !r || (!r.body.ok &&
    r.body.error !== 'temporarily_unavailable')).slice(0, 3)));
  assert.ok(full.length > 0, `all ${ok.length} requests were held at once: the bound did not apply`);
  assert.ok(ok.length >= 16, `only ${ok.length} issued`);
  assert.match(full[0].body.message, /too many replies are waiting/);
  // every token that left has its record, and no record was written for a refused one
  assert.equal(await issued() - before, ok.length);
  const probe = await FrameConn.open(stack.paths.daemonSocket);
  const st = (await probe.call({ verb: 'stats' }, { id: 1 })).body;
  probe.close();
  assert.equal(st.held_full, full.length, JSON.stringify(st));
  assert.equal(st.held_now, 0, JSON.stringify(st));
  assert.equal((await token('transcribe')).status, 200, 'the daemon keeps serving');
});
