// Issue 7, "lists that scale": 5,000 apps and a large audit log work in flowgatectl, the admin UI
// and the dashboard; no list depends on one reply fitting one 64 KiB frame (SPEC §6 plans for
// 1,000 apps).  Setup goes straight to the daemon's socket (pipelined frames, as root, the local
// admin peer) so that the file stays within a couple of minutes; every check then goes through
// the real flowgatectl, nginx -> FastCGI -> daemon.
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { FrameConn, encodeFrame } from '../lib/frame.mjs';
import { addUser } from '../lib/web.mjs';
import { httpLogin } from '../lib/browser.mjs';
import { sleep } from '../lib/util.mjs';

const APPS = 5000;
const RECORDS = Number(process.env.FLOWGATE_SCALE_RECORDS || 1000000);
const stack = useStack({});
let admin;

/** Send every request on one connection, at most window in flight; the replies in order. */
async function pipeline(requests, window = 500) {
  const c = await FrameConn.open(stack.paths.daemonSocket);
  const replies = [];
  try {
    for (let i = 0; i < requests.length; i += window) {
      const batch = requests.slice(i, i + window);
      c.send(Buffer.concat(batch.map((r, k) => encodeFrame(r, { id: i + k + 1 }))));
      for (let k = 0; k < batch.length; k++) {
        const rep = await c.next(60000);
        if (!rep) throw new Error(`no reply to request ${i + k + 1} (daemon closed or timed out)`);
        replies.push(rep.body);
      }
    }
  } finally {
    c.close();
  }
  return replies;
}

function appName(i) {
  return `scale-${String(i).padStart(5, '0')}`;
}

function note(what, n, ms) {
  console.log(`# ${what}: ${n} in ${ms} ms (${Math.round((n * 1000) / Math.max(ms, 1))}/s)`);
}

/** Every page of a list verb straight from the daemon; [rows, pages]. */
async function allPages(verb, key, extra = {}, cursor = 'after') {
  const rows = [];
  let pages = 0;
  let next;
  for (;;) {
    const [r] = await pipeline([{ verb, ...extra, ...(next !== undefined ? { [cursor]: next } : {}) }]);
    assert.equal(r.ok, true, JSON.stringify(r));
    pages++;
    rows.push(...r[key]);
    if (!r.more) return [rows, pages];
    assert.ok(r.next !== undefined, `more without next: ${JSON.stringify(r).slice(0, 200)}`);
    next = r.next;
  }
}

test(`${APPS} apps registered through the daemon socket`, async () => {
  const t0 = Date.now();
  const reqs = [];
  for (let i = 0; i < APPS; i++) {
    reqs.push({ verb: 'app.add', name: appName(i), flow: 'client_credentials', connection: 'demo',
      scopes: 'streams', kind: 'backend' });
  }
  const replies = await pipeline(reqs);
  const bad = replies.filter((r) => r.ok !== true);
  assert.equal(bad.length, 0, `refused: ${JSON.stringify(bad.slice(0, 3))}`);
  note('app.add', APPS, Date.now() - t0);
}, { timeout: 120000 });

test('one app with every optional field at its longest still lists (the byte budget, not the count)', async () => {
  const long = (c, n) => c.repeat(n);
  const r = await stack.ctl(['--json', 'app', 'add', 'scale-zz-long', '--flow', 'client_credentials',
    '--connection', 'demo', '--scopes', 'streams', '--kind', 'backend',
    '--justification', `"\\${'\u0001'.repeat(1997)}`,
    '--redirect-uri', `https://example.com/${long('a', 2000)}`,
    '--return-url', `https://example.com/${long('b', 2000)}`,
    '--proxy-methods', 'GET POST PUT PATCH DELETE',
    '--proxy-paths', Array.from({ length: 8 }, (_, i) => `/${String(i)}${long('"', 250)}`).join(' ')]);
  assert.equal(r.code, 0, r.stderr);
  const [one] = await pipeline([{ verb: 'app.list', after: 'scale-04990', limit: 1000 }]);
  assert.equal(one.ok, true, JSON.stringify(one).slice(0, 300));
  assert.deepEqual(one.apps.map((a) => a.name).slice(-1), ['scale-zz-long']);
  assert.equal(one.more, false);
});

test('the daemon pages app.list: limit, after, before, more and next', async () => {
  const [first] = await pipeline([{ verb: 'app.list', limit: 3 }]);
  assert.deepEqual(first.apps.map((a) => a.name), [appName(0), appName(1), appName(2)]);
  assert.equal(first.more, true);
  assert.equal(first.next, appName(2));
  const [second, back, bad, both] = await pipeline([
    { verb: 'app.list', limit: 3, after: first.next },
    { verb: 'app.list', limit: 2, before: appName(3) },
    { verb: 'app.list', limit: 1001 },
    { verb: 'app.list', after: 'a', before: 'b' },
  ]);
  assert.deepEqual(second.apps.map((a) => a.name), [appName(3), appName(4), appName(5)]);
  assert.deepEqual(back.apps.map((a) => a.name), [appName(1), appName(2)], 'before: the rows just before, in name order');
  assert.equal(back.more, true);
  assert.equal(back.next, appName(1));
  assert.equal(bad.error, 'bad_request');
  assert.match(bad.message, /limit must be 1\.\.1000/);
  assert.equal(both.error, 'bad_request');
  const t0 = Date.now();
  const [rows, pages] = await allPages('app.list', 'apps', { limit: 1000 });
  note(`app.list in ${pages} pages`, rows.length, Date.now() - t0);
  assert.equal(rows.length, APPS + 1);
  assert.ok(pages > (APPS + 1) / 1000, `${pages} pages: 1,000 rows of ~300 bytes cannot fit a frame, the byte budget must cut`);
  assert.equal(new Set(rows.map((a) => a.name)).size, rows.length, 'a row came twice');
});

test('flowgatectl app list prints every app, as a table and as one JSON document', async () => {
  let t0 = Date.now();
  const plain = await stack.ctl(['app', 'list'], { timeoutMs: 60000 });
  note('flowgatectl app list', APPS + 1, Date.now() - t0);
  const lines = plain.stdout.trim().split('\n');
  assert.equal(lines.length, APPS + 1);
  assert.match(lines[0], /^scale-00000 /);
  assert.match(lines[APPS - 1], /^scale-04999 /);
  t0 = Date.now();
  const json = await stack.ctl(['--json', 'app', 'list'], { timeoutMs: 60000 });
  note('flowgatectl --json app list', APPS + 1, Date.now() - t0);
  const doc = JSON.parse(json.stdout);
  assert.equal(doc.ok, true);
  assert.equal(doc.apps.length, APPS + 1);
  assert.equal(doc.apps[4321].name, appName(4321));
  assert.equal(doc.apps[4321].client_id.startsWith('fg_'), true);
});

test('the admin UI shows apps a page at a time, with Next and Previous', async () => {
  await addUser(stack, 'scale-admin', 'admin', 'scale-admin-password');
  admin = await httpLogin(stack, 'scale-admin', 'scale-admin-password');
  const p1 = await stack.http('GET', '/admin/apps', { headers: { cookie: admin.cookie } });
  assert.equal(p1.status, 200, p1.body.slice(0, 300));
  const rows1 = [...p1.body.matchAll(/<tr data-app="([^"]+)"/g)].map((m) => m[1]);
  assert.equal(rows1.length, 50);
  assert.equal(rows1[0], appName(0));
  assert.doesNotMatch(p1.body, /id="prev-page"/, 'the first page has no Previous');
  const next = /id="next-page"[^>]*|href="([^"]+)" id="next-page"/.exec(p1.body);
  assert.ok(next && next[1], 'no Next link on the first page');
  assert.equal(next[1].replace(/&amp;/g, '&'), `/admin/apps?after=${appName(49)}`);
  const p2 = await stack.http('GET', next[1].replace(/&amp;/g, '&'), { headers: { cookie: admin.cookie } });
  assert.equal(p2.status, 200);
  const rows2 = [...p2.body.matchAll(/<tr data-app="([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual([rows2[0], rows2.length], [appName(50), 50]);
  const prev = /href="([^"]+)" id="prev-page"/.exec(p2.body);
  assert.equal(prev[1], `/admin/apps?before=${appName(50)}`);
  const back = await stack.http('GET', prev[1], { headers: { cookie: admin.cookie } });
  assert.deepEqual([...back.body.matchAll(/<tr data-app="([^"]+)"/g)].map((m) => m[1]), rows1);
  const last = await stack.http('GET', '/admin/apps?after=zzz', { headers: { cookie: admin.cookie } });
  assert.equal(last.status, 200);
  assert.match(last.body, /id="first-page"/, 'past the end: a way back to the first page');
});

test('the dashboard answers with 5,000 apps issuing: the busiest 12 and totals', async () => {
  const apps = await pipeline(Array.from({ length: 20 }, (_, i) => ({ verb: 'app.rotate_secret', name: appName(i * 100), overlap_s: 0 })));
  const tokens = [];
  apps.forEach((a, i) => {
    assert.equal(a.ok, true, JSON.stringify(a));
    for (let k = 0; k <= i; k++) tokens.push({ verb: 'token', client_id: a.client_id, client_secret: a.client_secret, grant_type: 'client_credentials', scope: 'streams' });
  });
  const issued = await pipeline(tokens);
  assert.equal(issued.filter((r) => r.access_token).length, tokens.length, JSON.stringify(issued.find((r) => !r.access_token)));
  const [d] = await pipeline([{ verb: 'dashboard' }]);
  assert.equal(d.ok, true);
  assert.equal(d.issuance.apps.length, 12);
  assert.equal(d.issuance.active, 20);
  assert.equal(d.issuance.total, tokens.length);
  assert.equal(d.issuance.apps[0].app, appName(1900), 'the busiest first');
  assert.equal(d.connections.count, 1);
  const t0 = Date.now();
  const page = await stack.http('GET', '/admin/', { headers: { cookie: admin.cookie } });
  note('GET /admin/ (dashboard)', 1, Date.now() - t0);
  assert.equal(page.status, 200, page.body.slice(0, 300));
  assert.match(page.body, /20 apps issued 210 tokens; the 12 busiest are shown/);
  assert.equal((page.body.match(/class="chart-app"/g) || []).length, 12);
});

test(`${RECORDS} audit records (refused token requests, pipelined) page in flowgatectl and the admin UI`, async () => {
  const t0 = Date.now();
  // an authenticated app asking a scope it may not have: one record each (refusals of callers
  // nobody could authenticate are counted per kind and window, not recorded one by one)
  const who = await stack.addApp('refused-a-lot', { scopes: 'transcribe' });
  const req = { verb: 'token', client_id: who.client_id, client_secret: who.client_secret,
    grant_type: 'client_credentials', scope: 'streams' };
  const chunk = 20000;
  for (let i = 0; i < RECORDS; i += chunk) {
    const replies = await pipeline(Array.from({ length: Math.min(chunk, RECORDS - i) }, () => req), 2000);
    assert.equal(replies.filter((r) => r.error === 'invalid_scope').length, replies.length);
  }
  note('refused token requests (audit records)', RECORDS, Date.now() - t0);
  let t = Date.now();
  // a dashboard's incremental walk may still run (longer on PostgreSQL): do as retry_after says
  let [verify] = await pipeline([{ verb: 'audit.verify' }]);
  for (let i = 0; i < 30 && verify.error === 'temporarily_unavailable'; i++) {
    await sleep(verify.retry_after * 1000);
    [verify] = await pipeline([{ verb: 'audit.verify' }]);
  }
  note('audit.verify (the whole chain, on the event loop)', verify.records, Date.now() - t);
  assert.equal(verify.ok, true, JSON.stringify(verify));
  assert.ok(verify.records >= RECORDS, `${verify.records} records`);
  const total = verify.records;

  t = Date.now();
  const tail = await stack.ctl(['--json', 'audit', 'tail', '-n', '5000'], { timeoutMs: 60000 });
  note('flowgatectl audit tail -n 5000', 5000, Date.now() - t);
  const recs = JSON.parse(tail.stdout).records;
  assert.equal(recs.length, 5000);
  assert.equal(recs[4999].seq, total, 'the newest last');
  assert.ok(recs.every((r, i) => i === 0 || r.seq === recs[i - 1].seq + 1), 'oldest first, no gap');

  // a rare filter: a page looks at 100,000 records at most, then says where it stopped
  t = Date.now();
  const [rare] = await pipeline([{ verb: 'audit.query', event: 'token.issue', limit: 500 }]);
  note('one audit.query page with a rare filter', rare.records.length, Date.now() - t);
  if (RECORDS >= 100000) {
    assert.deepEqual([rare.records.length, rare.more, rare.next], [0, true, total + 1 - 100000]);
  }

  t = Date.now();
  const q = await stack.ctl(['--json', 'audit', 'query', '--event', 'token.issue', '-n', '150'], { timeoutMs: 60000 });
  note('flowgatectl audit query --event token.issue (210 matching)', 150, Date.now() - t);
  const issues = JSON.parse(q.stdout).records;
  assert.equal(issues.length, 150);
  assert.ok(issues.every((r, i) => r.event === 'token.issue' && (i === 0 || r.seq < issues[i - 1].seq)), 'newest first, only the event asked for');

  t = Date.now();
  const plain = await stack.ctl(['audit', 'query', '--event', 'token.issue'], { timeoutMs: 60000 });
  note('flowgatectl audit query: every page through the whole log', 210, Date.now() - t);
  assert.equal(plain.stdout.trim().split('\n').length, 210);

  t = Date.now();
  const p1 = await stack.http('GET', '/admin/audit', { headers: { cookie: admin.cookie } });
  note('GET /admin/audit', 1, Date.now() - t);
  assert.equal(p1.status, 200);
  const seqs = (b) => [...b.matchAll(/data-seq="(\d+)"/g)].map((m) => Number(m[1]));
  const s1 = seqs(p1.body);
  assert.equal(s1.length, 50);
  const older = /href="([^"]+)" id="older"/.exec(p1.body);
  assert.ok(older, 'no Older link on the first audit page');
  assert.doesNotMatch(p1.body, /id="newer"/);
  const p2 = await stack.http('GET', older[1].replace(/&amp;/g, '&'), { headers: { cookie: admin.cookie } });
  const s2 = seqs(p2.body);
  assert.equal(s2[0], s1[49] - 1, 'the older page starts right below the first');
  const newer = /href="([^"]+)" id="newer"/.exec(p2.body);
  assert.ok(newer, 'no Newer link on an older page');
  const p3 = await stack.http('GET', newer[1].replace(/&amp;/g, '&'), { headers: { cookie: admin.cookie } });
  assert.deepEqual(seqs(p3.body), s1, 'Newer leads back to the first page');
  // a rare filter in the UI: pages may come up short where the daemon stopped looking, and
  // Older goes on from there until the matches appear
  let url = '/admin/audit?event=token.issue';
  let found = [];
  let hops = 0;
  t = Date.now();
  while (url && found.length === 0 && hops < 20) {
    const pg = await stack.http('GET', url, { headers: { cookie: admin.cookie } });
    assert.equal(pg.status, 200);
    found = seqs(pg.body);
    url = (/href="([^"]+)" id="older"/.exec(pg.body) || [])[1]?.replace(/&amp;/g, '&');
    hops++;
  }
  note(`GET /admin/audit?event=token.issue until the first match (${hops} pages)`, found.length, Date.now() - t);
  assert.equal(found.length, 50, 'the newest token.issue records');

  t = Date.now();
  const dash = await stack.http('GET', '/admin/', { headers: { cookie: admin.cookie } });
  note(`GET /admin/ with ${total} records`, 1, Date.now() - t);
  assert.equal(dash.status, 200);
}, { timeout: 300000 });
