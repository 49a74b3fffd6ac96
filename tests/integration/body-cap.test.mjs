// Each app's cap on a proxied request body (issue 9): nginx's client_max_body_size at
// /api/v1/proxy/ is the ceiling (200 MiB); the daemon's proxy.authorize checks the caller's
// Content-Length against the app's cap before anything is sent (413), refuses a chunked body
// unless the cap is the ceiling (411), and refuses a malformed Content-Length from the front end.
// The cap is set and shown with flowgatectl and the admin UI; refusals are audited.
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { test, useStack } from '../lib/runner.mjs';
import { FrameConn } from '../lib/frame.mjs';
import { addUser } from '../lib/web.mjs';
import { httpLogin } from '../lib/browser.mjs';
import { basicAuth } from '../lib/util.mjs';

const stack = useStack({ cortiApi: true });
const MiB = 1024 * 1024;
let capped;
let open;
let interactionId;

const addApp = async (name, extra = []) => {
  const r = await stack.ctl(['--json', 'app', 'add', name, '--connection', 'demo', '--flow', 'client_credentials',
    '--kind', 'backend', '--scopes', 'streams', '--proxy-methods', 'GET POST', '--proxy-paths', '/interactions', ...extra]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
};

/** Upload n bytes as a recording: with a Content-Length, or chunked (none). */
function upload(app, n, { chunked = false } = {}) {
  return new Promise((resolve, reject) => {
    const headers = { authorization: basicAuth(app.client_id, app.client_secret), 'content-type': 'application/octet-stream' };
    if (!chunked) headers['content-length'] = n;
    const req = http.request({ host: '127.0.0.1', port: stack.nginxPort, method: 'POST', agent: false, headers,
      path: `/api/v1/proxy/demo/interactions/${interactionId}/recordings/` }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString('utf8') }));
    });
    // nginx may answer a refusal and close before the whole body is written: the answer counts
    req.on('error', (e) => (e.code === 'EPIPE' || e.code === 'ECONNRESET' ? undefined : reject(e)));
    const piece = Buffer.alloc(64 * 1024, 'x');
    let left = n;
    const more = () => {
      while (left > 0) {
        const c = left >= piece.length ? piece : piece.subarray(0, left);
        left -= c.length;
        if (!req.write(c)) { req.once('drain', more); return; }
      }
      req.end();
    };
    more();
  });
}

/** How many uploads the stand-in has seen. */
const uploadsSeen = async () => (await stack.cortiRequests()).filter((x) => x.method === 'POST' && /recordings/.test(x.path)).length;

test('setup: an app capped at 1 MiB, one with the default cap, an interaction', async () => {
  capped = await addApp('capped', ['--proxy-body-max-mib', '1']);
  open = await addApp('uncapped');
  const r = await stack.http('POST', '/api/v1/proxy/demo/interactions/', { basic: [open.client_id, open.client_secret],
    headers: { 'content-type': 'application/json' }, body: JSON.stringify({ encounter: { identifier: 'cap', status: 'planned', type: 'first_consultation' } }) });
  assert.equal(r.status, 201, r.body);
  interactionId = r.json.interactionId;
});

test('a 1 MiB cap: 1 MiB - 1 passes, 1 MiB + 1 is 413 before the upstream sees anything', async () => {
  const ok = await upload(capped, MiB - 1);
  assert.equal(ok.status, 201, ok.text);
  assert.equal(JSON.parse(ok.text).bytes, MiB - 1);
  const exact = await upload(capped, MiB);
  assert.equal(exact.status, 201, `the cap itself is allowed: ${exact.text}`);
  const seen = await uploadsSeen();
  const over = await upload(capped, MiB + 1);
  assert.equal(over.status, 413, over.text);
  const err = JSON.parse(over.text);
  assert.equal(err.error, 'invalid_request');
  assert.match(err.error_description, /1048577 bytes.*cap of 1 MiB/);
  assert.equal(await uploadsSeen(), seen, 'a body over the cap reached the upstream');
});

test('a chunked upload: 411 for a capped app, relayed for an app with the default cap', async () => {
  const seen = await uploadsSeen();
  const refused = await upload(capped, 1000, { chunked: true });
  assert.equal(refused.status, 411, refused.text);
  assert.match(JSON.parse(refused.text).error_description, /send a Content-Length/);
  assert.equal(await uploadsSeen(), seen, 'a chunked body to a capped app reached the upstream');
  const ok = await upload(open, 3 * MiB, { chunked: true });
  assert.equal(ok.status, 201, ok.text);
  assert.equal(JSON.parse(ok.text).bytes, 3 * MiB);
});

test('the front end\'s Content-Length is parsed strictly: a malformed one is refused', async () => {
  const conn = await FrameConn.open(stack.paths.daemonSocket);
  let id = 1;
  const ask = async (extra, app = capped) => (await conn.call({ verb: 'proxy.authorize', client_id: app.client_id,
    client_secret: app.client_secret, connection: 'demo', method: 'POST', path: `/interactions/${interactionId}/recordings/`,
    ...extra }, { id: id++, timeoutMs: 10000 })).body;
  try {
    for (const bad of ['', '12a', '-1', '+1', ' 1', '1 ', '0x10', '1e3', '1.0', '１', '1234567890123456',
      '99999999999999999999999', '1,2']) {
      const r = await ask({ content_length: bad });
      assert.equal(r.ok, false, `content_length ${JSON.stringify(bad)} was accepted`);
      assert.equal(r.error, 'invalid_request', JSON.stringify(r));
    }
    const both = await ask({ content_length: '10', chunked: true });
    assert.equal(both.error, 'invalid_request', JSON.stringify(both));
    const huge = await ask({ content_length: '999999999999999' });
    assert.equal(huge.status, 413, JSON.stringify(huge));
    const small = await ask({ content_length: '000001048576' });
    assert.equal(small.ok, true, JSON.stringify(small));
    const plain = await conn.call({ verb: 'proxy', client_id: capped.client_id, client_secret: capped.client_secret,
      connection: 'demo', method: 'GET', path: '/interactions', content_length: '1' }, { id: id++, timeoutMs: 10000 });
    assert.equal(plain.body.error, 'invalid_request', 'the proxy verb measures its own body');
  } finally { conn.close(); }
});

test('refusals over the cap are audited as proxy calls', async () => {
  const recs = JSON.parse((await stack.ctl(['--json', 'audit', 'query', '--app', 'capped', '--event', 'proxy.call'])).stdout).records;
  for (const status of [413, 411]) {
    assert.ok(recs.some((x) => x.outcome === 'invalid_request' && x.detail.endsWith(`status=${status}`)),
      `no ${status} refusal in ${JSON.stringify(recs.map((x) => [x.outcome, x.detail]))}`);
  }
});

test('flowgatectl sets and shows the cap, within 1..200', async () => {
  const show = async (n) => JSON.parse((await stack.ctl(['--json', 'app', 'show', n])).stdout).app.proxy_body_max_mib;
  assert.equal(await show('capped'), 1);
  assert.equal(await show('uncapped'), 200, 'the default is the ceiling');
  const scopes = JSON.parse((await stack.ctl(['--json', 'app', 'show', 'capped'])).stdout).app.scopes;
  const upd = await stack.ctl(['app', 'update', 'capped', '--proxy-body-max-mib', '2']);
  assert.equal(upd.code, 0, upd.stderr);
  assert.match(upd.stdout, /proxy_body_max_mib\W+2\b/);
  assert.equal(JSON.parse((await stack.ctl(['--json', 'app', 'show', 'capped'])).stdout).app.scopes, scopes, 'scopes kept');
  for (const bad of ['0', '201', '-5']) {
    const r = await stack.ctl(['app', 'update', 'capped', '--proxy-body-max-mib', bad], { expect: null });
    assert.notEqual(r.code, 0, `cap ${bad} accepted`);
    assert.match(r.stderr, /from 1 to 200/);
    const a = await stack.ctl(['app', 'add', `cap-${bad.replace('-', 'm')}`, '--connection', 'demo', '--flow', 'client_credentials',
      '--kind', 'backend', '--scopes', 'streams', '--proxy-body-max-mib', bad], { expect: null });
    assert.notEqual(a.code, 0, `app add with cap ${bad} accepted`);
  }
  assert.equal(await show('capped'), 2);
  const neither = await stack.ctl(['app', 'update', 'capped'], { expect: null });
  assert.notEqual(neither.code, 0);
  // 2 MiB now: what 1 MiB refused passes
  assert.equal((await upload(capped, MiB + 1)).status, 201);
});

test('the admin UI registers an app with a cap, shows it and changes it', async () => {
  await addUser(stack, 'cap-admin', 'admin', 'cap-admin-password');
  const admin = await httpLogin(stack, 'cap-admin', 'cap-admin-password');
  const post = (path, form) => stack.http('POST', path, { headers: { cookie: admin.cookie }, form: { csrf: admin.csrf, ...form } });
  const add = await post('/admin/apps', { name: 'ui-capped', flow: 'client_credentials', connection: 'demo', kind: 'backend',
    scope_streams: 'on', proxy_methods: 'POST', proxy_paths: '/interactions', proxy_body_max_mib: '5' });
  assert.equal(add.status, 201, /id="form-error">(.*)/.exec(add.body)?.[1] ?? add.body.slice(0, 300));
  const page = async () => (await stack.http('GET', '/admin/apps/ui-capped', { headers: { cookie: admin.cookie } })).body;
  assert.match(await page(), /id="app-body-cap">5 MiB</);
  assert.match(await page(), /name="proxy_body_max_mib"[^>]*value="5"/);
  const set = await post('/admin/apps/ui-capped/body-cap', { proxy_body_max_mib: '7' });
  assert.equal(set.status, 303, set.body.slice(0, 300));
  assert.match(await page(), /id="app-body-cap">7 MiB</);
  for (const bad of ['0', '201', 'abc', '']) {
    const r = await post('/admin/apps/ui-capped/body-cap', { proxy_body_max_mib: bad });
    assert.equal(r.status, 400, `${bad}: ${r.status}`);
    assert.match(r.body, /id="err-proxy_body_max_mib">proxy_body_max_mib must be a whole number of MiB from 1 to 200/);
  }
  assert.match(await page(), /id="app-body-cap">7 MiB</);
  const refused = await post('/admin/apps', { name: 'ui-toobig', flow: 'client_credentials', connection: 'demo', kind: 'backend',
    scope_streams: 'on', proxy_body_max_mib: '500' });
  assert.equal(refused.status, 400, refused.body.slice(0, 300));
  assert.match(refused.body, /from 1 to 200/);
  const fresh = await stack.http('GET', '/admin/apps/new', { headers: { cookie: admin.cookie } });
  assert.match(fresh.body, /name="proxy_body_max_mib"[^>]*value="200"/, 'a new form offers the default');
});

test('above nginx\'s ceiling (200 MiB) nginx itself answers 413 with JSON, before the gate', async () => {
  const seen = await uploadsSeen();
  const r = await stack.http('POST', `/api/v1/proxy/demo/interactions/${interactionId}/recordings/`, {
    basic: [open.client_id, open.client_secret], headers: { 'content-type': 'application/octet-stream', 'content-length': 200 * MiB + 1 } });
  assert.equal(r.status, 413, r.body);
  assert.equal(r.json?.error, 'invalid_request', r.body);
  assert.equal(await uploadsSeen(), seen);
});
