// Verifying the audit chain never stalls the daemon (issue 8): a walk of a large chain runs in
// steps of a few milliseconds per loop turn, so tokens keep coming meanwhile; a checkpoint of
// the verified prefix makes routine (incremental) walks short; and an operator can keep the
// head elsewhere (`audit anchor`) and check the chain against it (`audit verify --anchor`).
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { FrameConn, encodeFrame } from '../lib/frame.mjs';

const stack = useStack({});
const RECORDS = Number(process.env.FLOWGATE_VERIFY_RECORDS || 300000);
let app;

/** Send requests on one connection, window at a time; the replies in order. */
async function pipeline(requests, window = 2000) {
  const c = await FrameConn.open(stack.paths.daemonSocket);
  const out = [];
  try {
    for (let i = 0; i < requests.length; i += window) {
      const batch = requests.slice(i, i + window);
      c.send(Buffer.concat(batch.map((r, k) => encodeFrame(r, { id: i + k + 1 }))));
      for (let k = 0; k < batch.length; k++) out.push((await c.next(60000)).body);
    }
  } finally {
    c.close();
  }
  return out;
}

test(`setup: an app, and ${RECORDS} audit records (its refused requests)`, async () => {
  // a rarely used app first: its records are the oldest, far below the flood
  const rare = await stack.addApp('rare', { scopes: 'transcribe' });
  await pipeline(Array.from({ length: 3 }, () => ({ verb: 'token', client_id: rare.client_id,
    client_secret: rare.client_secret, grant_type: 'client_credentials', scope: 'streams' })));
  app = await stack.addApp('auditor-load', { scopes: 'transcribe' });
  // asking for a scope the app may not have: an attributed refusal, one record each
  const req = { verb: 'token', client_id: app.client_id, client_secret: app.client_secret,
    grant_type: 'client_credentials', scope: 'streams' };
  for (let i = 0; i < RECORDS; i += 50000) {
    const r = await pipeline(Array.from({ length: Math.min(50000, RECORDS - i) }, () => req));
    assert.equal(r.filter((x) => x.error === 'invalid_scope').length, r.length);
  }
});

test('an audit query by app or by actor reads its index: the rare app\'s old records on the first page, cheaply', async () => {
  const [byApp] = await pipeline([{ verb: 'audit.query', app: 'rare', event: 'token.refuse', limit: 10 }]);
  assert.equal(byApp.records.length, 3, JSON.stringify(byApp).slice(0, 400));
  // a window of 100000 records walked row by row takes millions of steps
  assert.ok(byApp.steps < 20000, `the page took ${byApp.steps} steps`);
  const [byActor] = await pipeline([{ verb: 'audit.query', actor: byApp.records[0].actor, limit: 10 }]);
  assert.ok(byActor.records.length >= 3 && byActor.steps < 20000, JSON.stringify(byActor).slice(0, 400));
  const [byEvent] = await pipeline([{ verb: 'audit.query', event: 'app.add', limit: 10 }]);
  assert.ok(byEvent.steps > 100000, `an unindexed filter walks its window: ${byEvent.steps} steps`);
}, { storage: 'sqlite', why: 'counts SQLite VM steps' });

test('a full verification walks in steps: cached tokens are answered quickly meanwhile', async () => {
  const tok = { verb: 'token', client_id: app.client_id, client_secret: app.client_secret,
    grant_type: 'client_credentials', scope: 'transcribe' };
  assert.equal((await pipeline([tok]))[0].ok, true);	// cached from now on
  const slowBusyNs = async () => {
    const s = await FrameConn.open(stack.paths.daemonSocket);
    try { return (await s.call({ verb: 'stats' }, { id: 1 })).body.slow_busy_ns; } finally { s.close(); }
  };
  const slow0 = await slowBusyNs();
  const v = await FrameConn.open(stack.paths.daemonSocket);
  const t0 = Date.now();
  const pending = v.call({ verb: 'audit.verify' }, { timeoutMs: 120000 });
  const lat = [];
  let done = false;
  pending.then(() => { done = true; });
  const c = await FrameConn.open(stack.paths.daemonSocket);
  for (let i = 1; !done && i < 1000000; i++) {
    const s = process.hrtime.bigint();
    const r = await c.call(tok, { id: i });
    lat.push(Number(process.hrtime.bigint() - s) / 1e6);
    assert.equal(r.body.ok, true, JSON.stringify(r.body));
  }
  const rep = await pending;
  const took = Date.now() - t0;
  c.close();
  v.close();
  assert.equal(rep.body.ok, true, JSON.stringify(rep.body));
  assert.ok(rep.body.records >= RECORDS, JSON.stringify(rep.body));
  lat.sort((a, b) => a - b);
  const p99 = lat[Math.floor(lat.length * 0.99)] ?? 0;
  console.log(`# verify of ${rep.body.records} records took ${took} ms; ${lat.length} tokens meanwhile, p99 ${p99.toFixed(1)} ms, max ${lat.at(-1)?.toFixed(1)} ms`);
  assert.ok(lat.length >= 10, `only ${lat.length} tokens were answered during a ${took} ms verification`);
  // the pacing: while requests come in, slow work takes about a tenth of the daemon's time
  // (by its own clock, whatever the load on this machine); every turn's slice would be most
  const share = (await slowBusyNs() - slow0) / 1e6 / took;
  console.log(`# slow work took ${(share * 100).toFixed(1)}% of the verification's time while tokens came in`);
  assert.ok(share > 0 && share < 0.2, `slow work's share while busy: ${share}`);
  assert.ok(p99 < 50, `token p99 ${p99} ms during verification`);
});

test('an incremental verification starts at the checkpoint the full one left', async () => {
  const t0 = Date.now();
  const r = await stack.ctl(['audit', 'verify', '--incremental']);
  assert.match(r.stdout, /audit chain ok/);
  assert.ok(Date.now() - t0 < 3000);
});

test('audit anchor prints SEQ:HASH; verify --anchor checks the chain still holds that record', async () => {
  const a = (await stack.ctl(['audit', 'anchor'])).stdout.trim();
  assert.match(a, /^\d+:[0-9a-f]{64}$/, a);
  const [seq] = a.split(':');
  const good = await stack.ctl(['audit', 'verify', '--anchor', a]);
  assert.match(good.stdout, /audit chain ok/);
  const wrong = await stack.ctl(['audit', 'verify', '--anchor', `${seq}:${'0'.repeat(64)}`], { expect: null });
  assert.equal(wrong.code, 1, wrong.stdout + wrong.stderr);
  assert.match(wrong.stderr, /differs from the anchor/);
  const ahead = await stack.ctl(['audit', 'verify', '--anchor', `${Number(seq) + 1000000}:${'0'.repeat(64)}`], { expect: null });
  assert.equal(ahead.code, 1);
  assert.match(ahead.stderr, /missing/, ahead.stderr);
  const bad = await stack.ctl(['audit', 'verify', '--anchor', 'nonsense'], { expect: null });
  assert.notEqual(bad.code, 0);
});

test('a backup of the large database is written in steps too: tokens keep coming meanwhile', async () => {
  const tok = { verb: 'token', client_id: app.client_id, client_secret: app.client_secret,
    grant_type: 'client_credentials', scope: 'transcribe' };
  const path = `${stack.paths.dataDir}/steps.db`;
  const b = await FrameConn.open(stack.paths.daemonSocket);
  const t0 = Date.now();
  const pending = b.call({ verb: 'backup', path }, { timeoutMs: 120000 });
  let done = false;
  pending.then(() => { done = true; });
  const c = await FrameConn.open(stack.paths.daemonSocket);
  const lat = [];
  for (let i = 1; !done && i < 1000000; i++) {
    const s = process.hrtime.bigint();
    assert.equal((await c.call(tok, { id: i })).body.ok, true);
    lat.push(Number(process.hrtime.bigint() - s) / 1e6);
  }
  const rep = await pending;
  c.close();
  b.close();
  assert.equal(rep.body.ok, true, JSON.stringify(rep.body));
  lat.sort((x, y) => x - y);
  const p99 = lat[Math.floor(lat.length * 0.99)] ?? 0;
  console.log(`# backup took ${Date.now() - t0} ms; ${lat.length} tokens meanwhile, p99 ${p99.toFixed(1)} ms`);
  assert.ok(lat.length >= 10, `only ${lat.length} tokens were answered during the backup`);
  assert.ok(p99 < 50, `token p99 ${p99} ms during the backup`);
  const busy = await stack.ctl(['backup', `${stack.paths.dataDir}/steps.db`], { expect: null });
  assert.equal(busy.code, 1);	// exists: never overwritten
}, { storage: 'sqlite', why: 'PostgreSQL is backed up with its own tools' });
