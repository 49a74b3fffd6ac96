// Callers nobody could authenticate cannot grow the audit log at will (issue 8): thousands of
// refused requests with made-up credentials add one record per kind (actor, outcome, address)
// and window, and one summary with the count when the window ends. Refusals of authenticated
// apps are still recorded one by one.
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { FrameConn, encodeFrame } from '../lib/frame.mjs';
import { sleep } from '../lib/util.mjs';

const stack = useStack({ auditConfig: { refusal_window_s: 2 } });

async function pipeline(reqs) {
  const c = await FrameConn.open(stack.paths.daemonSocket);
  c.send(Buffer.concat(reqs.map((r, i) => encodeFrame(r, { id: i + 1 }))));
  const out = [];
  for (let i = 0; i < reqs.length; i++) out.push((await c.next(30000)).body);
  c.close();
  return out;
}
const records = async () => JSON.parse((await stack.ctl(['--json', 'status'])).stdout);
const tail = async (n) => {
  const r = JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', String(n)])).stdout);
  return r.records || r;
};

test('5,000 refusals of an unknown client add a handful of records; the summary counts them', async () => {
  const before = (await tail(1))[0]?.seq ?? 0;
  const bad = { verb: 'token', client_id: 'fg_attacker', client_secret: 'x', grant_type: 'client_credentials', remote: '192.0.2.7' };
  const r = await pipeline(Array.from({ length: 5000 }, () => bad));
  assert.equal(r.filter((x) => x.error === 'invalid_client').length, 5000);
  const during = (await tail(50)).filter((x) => x.seq > before);
  assert.ok(during.length <= 3, `records written for 5,000 refusals: ${during.length}`);
  await sleep(3200);	// the window ends; the sweep writes the summary
  const after = (await tail(50)).filter((x) => x.seq > before && x.event === 'token.refuse');
  const summary = after.find((x) => /repeated=4999 /.test(x.detail || ''));
  assert.ok(summary, JSON.stringify(after));
  assert.equal(summary.actor, 'app:fg_attacker');
  assert.match(summary.detail, /remote=192\.0\.2\.7/);
  assert.ok((await records()).stats !== undefined);
});

test('an authenticated app\'s refusals are still recorded one by one, with its name', async () => {
  const app = await stack.addApp('known', { scopes: 'transcribe' });
  const before = (await tail(1))[0]?.seq ?? 0;
  const req = { verb: 'token', client_id: app.client_id, client_secret: app.client_secret, grant_type: 'client_credentials', scope: 'streams' };
  const r = await pipeline(Array.from({ length: 50 }, () => req));
  assert.equal(r.filter((x) => x.error === 'invalid_scope').length, 50);
  const recs = (await tail(100)).filter((x) => x.seq > before && x.event === 'token.refuse');
  assert.equal(recs.length, 50);
  assert.ok(recs.every((x) => x.app === 'known'));
});
