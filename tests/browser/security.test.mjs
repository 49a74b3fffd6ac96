// Security of the admin UI, in Chromium and over plain HTTP: headers on every page, XSS
// payloads shown inert in every text field, CSRF refusals, role checks the daemon makes even
// for hand-made requests, and no connection secret in any page or response.
import assert from 'node:assert/strict';

import { test, before, after, useStack } from '../lib/runner.mjs';
import { launchBrowser, newPage, login, submit, shot, httpLogin } from '../lib/browser.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';
import { randomSecret, secretNeedles, findNeedles } from '../lib/util.mjs';

// a generous login limit: this file logs in many times from 127.0.0.1 (session.test.mjs tests the limit)
const stack = useStack({ adminConfig: { login_max_failures: 50 } });
const PW = { alice: 'alice-correct-horse-1', sam: 'sam-battery-staple-22', audrey: 'audrey-reads-only-333' };
const XSS = ['<img src=x onerror=alert(1)>', '"><script>alert(2)</script>'];
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

let browser;
let admin;
const httpBodies = [];
const pages = [];

before(async () => {
  await stack.addUser('alice', 'admin', PW.alice);
  await stack.addUser('sam', 'security', PW.sam);
  await stack.addUser('audrey', 'auditor', PW.audrey);
  stack.onResponse = (r) => httpBodies.push(r);
  browser = await launchBrowser();
  admin = await newPage(browser, stack);
  pages.push(admin);
  await login(admin, 'alice', PW.alice);
});

after(async () => {
  if (browser) await browser.close();
});

function assertHeaders(r, what, { page = true } = {}) {
  const h = r.headers;
  assert.equal(h['content-security-policy'], CSP, `${what}: CSP`);
  assert.equal(h['x-content-type-options'], 'nosniff', `${what}: nosniff`);
  assert.equal(h['referrer-policy'], 'no-referrer', `${what}: Referrer-Policy`);
  assert.equal(h['x-frame-options'], 'DENY', `${what}: X-Frame-Options`);
  if (page) assert.equal(h['cache-control'], 'no-store', `${what}: Cache-Control`);
}

/** Turn off the browser's own form checks (pattern, type=url): the server must cope alone. */
async function noValidate(page) {
  await page.evaluate(() => document.querySelectorAll('form').forEach((f) => { f.noValidate = true; }));
}

/** Nothing injected ran or was parsed as markup, and each payload is on the page as text. */
async function assertInert(page, what) {
  assert.deepEqual(page.dialogs, [], `${what}: a dialog fired`);
  const injected = await page.evaluate(() => ({
    imgs: document.querySelectorAll('img[src="x"]').length,
    scripts: [...document.scripts].filter((s) => /alert\(/.test(s.textContent)).length,
  }));
  assert.deepEqual(injected, { imgs: 0, scripts: 0 }, `${what}: markup was injected`);
}

test('every admin page, form answer and static file carries the security headers', async () => {
  const { cookie } = await httpLogin(stack, 'alice', PW.alice);
  const anon = ['/admin/login', '/admin/', '/admin/nope', '/admin/static/nope.css'];
  const authed = ['/admin/', '/admin/wizard', '/admin/wizard?user_present=yes&browser_client=no',
    '/admin/wizard?user_present=no', '/admin/apps', '/admin/apps/new', '/admin/apps/nope',
    '/admin/connections', '/admin/connections/new', '/admin/connections/demo', '/admin/rotation',
    '/admin/rotation/demo', '/admin/audit', '/admin/audit?app=x', '/admin/audit/export', '/admin/users',
    '/admin/account', '/admin/nope', '/admin/wizard?user_present=maybe', '/admin/sessions',
    '/admin/sessions?app=x&user=y', '/admin/sessions?after=zz'];
  for (const p of anon) assertHeaders(await stack.http('GET', p), `anonymous GET ${p}`);
  for (const p of authed) {
    const r = await stack.http('GET', p, { headers: { cookie } });
    assert.ok([200, 400, 404].includes(r.status), `GET ${p}: ${r.status}`);
    assertHeaders(r, `GET ${p}`);
    if (/html/.test(r.headers['content-type'])) assert.match(r.body, /^<!doctype html>/i, p);
  }
  const posts = [
    ['/admin/login', { user: 'alice', password: 'wrong-password-x' }, {}],
    ['/admin/apps', { name: 'x' }, { cookie }],
    ['/admin/logout', {}, { cookie }],
  ];
  for (const [p, form, headers] of posts) assertHeaders(await stack.http('POST', p, { form, headers }), `POST ${p}`);
  for (const [p, type] of [['/admin/static/app.css', 'text/css'], ['/admin/static/app.js', 'text/javascript'],
    ['/admin/static/favicon.svg', 'image/svg+xml']]) {
    const r = await stack.http('GET', p);
    assert.equal(r.status, 200, p);
    assert.match(r.headers['content-type'], new RegExp(`^${type.replace('+', '\\+')}`), p);
    assertHeaders(r, p, { page: false });
    assert.ok(r.headers.etag, `${p}: ETag`);
    const again = await stack.http('GET', p, { headers: { 'if-none-match': r.headers.etag } });
    assert.equal(again.status, 304, `${p}: If-None-Match`);
  }
  // the session cookie
  const r = await stack.http('POST', '/admin/login', { form: { user: 'sam', password: PW.sam } });
  const set = [].concat(r.headers['set-cookie']).join('\n');
  assert.match(set, /^fg_session=[^;]+; Path=\/; HttpOnly; SameSite=Strict$/m);
  // and the browser sees the same on a real page load
  const resp = await admin.goto('/admin/');
  assertHeaders({ headers: resp.headers() }, 'browser GET /admin/');
});

test('bad requests get clear errors: duplicates, wrong types, oversized forms, unknown paths and methods', async () => {
  const alice = await httpLogin(stack, 'alice', PW.alice);
  const h = { cookie: alice.cookie };
  const dup = await stack.http('POST', '/admin/apps', { headers: { ...h, 'content-type': 'application/x-www-form-urlencoded' },
    body: `csrf=${alice.csrf}&name=a&name=b` });
  assert.equal(dup.status, 400);
  assert.match(dup.body, /more than once/);
  const json = await stack.http('POST', '/admin/apps', { headers: { ...h, 'content-type': 'application/json' }, body: '{}' });
  assert.equal(json.status, 400);
  const big = await stack.http('POST', '/admin/apps', { headers: h, form: { csrf: alice.csrf, justification: 'x'.repeat(9000) } });
  assert.equal(big.status, 413);
  const enc = await stack.http('POST', '/admin/apps', { headers: { ...h, 'content-type': 'application/x-www-form-urlencoded' }, body: 'name=%zz' });
  assert.equal(enc.status, 400);
  assert.equal((await stack.http('GET', '/admin/apps/Not_A_Name', { headers: h })).status, 404);
  assert.equal((await stack.http('GET', '/admin/no/such/page', { headers: h })).status, 404);
  const m = await stack.http('DELETE', '/admin/apps', { headers: h });
  assert.equal(m.status, 405);
  assert.match(m.headers.allow, /GET|POST/);
  const front = await stack.http('GET', '/admin');
  assert.ok([301, 303].includes(front.status), `GET /admin: ${front.status}`);
  assert.match(front.headers.location, /\/admin\/$/);
  // the daemon and the workers are fine afterwards
  assert.equal((await stack.http('GET', '/admin/', { headers: h })).status, 200);
});

test('a POST without or with a wrong CSRF token is refused (403) and changes nothing', async () => {
  const alice = await httpLogin(stack, 'alice', PW.alice);
  const sam = await httpLogin(stack, 'sam', PW.sam);
  const form = { name: 'csrf-app', flow: 'client_credentials', connection: 'demo', kind: 'backend',
    scope_streams: 'on' };
  const cases = [
    ['no token', form],
    ['a wrong token', { ...form, csrf: 'A'.repeat(alice.csrf.length) }],
    ['another session\'s token', { ...form, csrf: sam.csrf }],
    ['an empty token', { ...form, csrf: '' }],
  ];
  for (const [what, f] of cases) {
    const r = await stack.http('POST', '/admin/apps', { form: f, headers: { cookie: alice.cookie } });
    assert.equal(r.status, 403, `${what}: ${r.status} ${r.body.slice(0, 200)}`);
    assert.match(r.body, /security token is missing or wrong/, what);
  }
  for (const p of ['/admin/logout', '/admin/rotation/demo/stop', '/admin/users', '/admin/account/password',
    '/admin/apps/csrf-app/revoke', '/admin/connections/demo/test']) {
    const r = await stack.http('POST', p, { form: { csrf: 'nope' }, headers: { cookie: alice.cookie } });
    assert.equal(r.status, 403, `POST ${p} with a wrong token: ${r.status}`);
  }
  const list = await stack.ctl(['app', 'list']);
  assert.doesNotMatch(list.stdout, /csrf-app/, 'an app was created without a valid token');
  // the session survived the refused logout, and the same form with the right token works
  const ok = await stack.http('POST', '/admin/apps', { form: { ...form, csrf: alice.csrf }, headers: { cookie: alice.cookie } });
  assert.equal(ok.status, 201, `the control request with the right token: ${ok.body.slice(0, 300)}`);
  // a cross-site browser form post is refused before anything else
  const xs = await stack.http('POST', '/admin/apps', { form: { ...form, name: 'xsite', csrf: alice.csrf },
    headers: { cookie: alice.cookie, 'sec-fetch-site': 'cross-site' } });
  assert.equal(xs.status, 403);
  const xo = await stack.http('POST', '/admin/apps', { form: { ...form, name: 'xorigin', csrf: alice.csrf },
    headers: { cookie: alice.cookie, origin: 'http://evil.example' } });
  assert.equal(xo.status, 403);
});

test('an auditor cannot rotate, stop or register, even with a hand-made POST carrying session and CSRF', async () => {
  const audrey = await httpLogin(stack, 'audrey', PW.audrey);
  const before = await stack.ctl(['connection', 'show', 'demo']);
  const attempts = [
    ['/admin/rotation/demo/rotate', { secret: randomSecret('FGAUDITOR'), grace_s: '3600' }, 'connection.rotate'],
    ['/admin/rotation/demo/stop', {}, 'connection.stop'],
    ['/admin/rotation/demo/retire', {}, 'connection.retire'],
    ['/admin/apps', { name: 'auditor-app', flow: 'client_credentials', connection: 'demo', kind: 'backend', scope_streams: 'on' }, 'app.add'],
    ['/admin/users', { name: 'mallory', role: 'admin', password: 'mallory-password-1' }, 'account.add'],
    ['/admin/sessions/1/revoke', {}, 'user_session.revoke'],
    ['/admin/sessions/revoke-all', { user: 'dana' }, 'user_session.revoke_all'],
  ];
  for (const [p, form, verb] of attempts) {
    const r = await stack.http('POST', p, { form: { ...form, csrf: audrey.csrf }, headers: { cookie: audrey.cookie } });
    assert.equal(r.status, 403, `${p}: ${r.status} ${r.body.slice(0, 300)}`);
    assert.match(r.body, /Your role \(auditor\) may not do this/, p);
    assert.ok(r.body.includes(verb), `${p}: the daemon's refusal names ${verb}`);
  }
  // nothing changed (all but the clock-driven secret age), tokens still flow, and the daemon
  // audited each refusal
  const still = (r) => r.stdout.split('\n').filter((l) => !l.startsWith('secret_age_s')).join('\n');
  assert.equal(still(await stack.ctl(['connection', 'show', 'demo'])), still(before));
  assert.doesNotMatch((await stack.ctl(['app', 'list'])).stdout, /auditor-app/);
  const app = await stack.addApp('probe', { scopes: 'streams' });
  assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);
  const alice = await httpLogin(stack, 'alice', PW.alice);
  const exp = await stack.http('GET', '/admin/audit/export?actor=user:audrey&outcome=forbidden', { headers: { cookie: alice.cookie } });
  const recs = exp.body.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  for (const [, , verb] of attempts) {
    assert.ok(recs.some((x) => x.event === 'admin.refuse' && x.detail === verb), `no audited refusal of ${verb}: ${exp.body}`);
  }
  // the UI does not offer what the role may not do
  const page = await newPage(browser, stack);
  pages.push(page);
  await login(page, 'audrey', PW.audrey);
  await page.goto('/admin/rotation/demo');
  assert.equal(await page.$('#rotate-form'), null);
  assert.equal(await page.$('#emergency-stop'), null);
  await shot(page, 'security-01-auditor-rotation');
  await page.goto('/admin/apps');
  assert.equal(await page.$('#new-app'), null);
  const users = await page.goto('/admin/users');
  assert.equal(users.status(), 403);
  await shot(page, 'security-02-auditor-users-403');
});

test('XSS payloads in every text field are shown as text and never run', async () => {
  const [P1, P2] = XSS;
  // login form (anonymous): the user name comes back as the field's value
  const anon = await newPage(browser, stack);
  pages.push(anon);
  await anon.goto('/admin/login');
  await anon.fill('#user', P1);
  await anon.fill('#password', 'not-the-password');
  await submit(anon, '#login-form button[type=submit]');
  assert.equal(await anon.inputValue('#user'), P1);
  assert.match(await anon.textContent('#login-error'), /Wrong user name or password/);
  await assertInert(anon, 'login');

  // app form, refused (the name is not a valid name): every field comes back as typed
  await admin.goto('/admin/apps/new');
  await admin.fill('#name', P1);
  await admin.fill('#justification', P2);
  await admin.evaluate(() => document.querySelectorAll('details').forEach((d) => { d.open = true; }));
  await admin.fill('#redirect_uri', `https://x.example/${P1}`);
  await admin.fill('#return_url', `https://x.example/${P2}`);
  await admin.fill('#proxy_methods', P1.slice(0, 30));
  await admin.fill('#proxy_paths', P2);
  await noValidate(admin);
  await submit(admin, '#register');
  assert.equal(await admin.inputValue('#name'), P1);
  assert.equal(await admin.inputValue('#justification'), P2);
  assert.equal(await admin.inputValue('#redirect_uri'), `https://x.example/${P1}`);
  assert.equal(await admin.inputValue('#return_url'), `https://x.example/${P2}`);
  assert.equal(await admin.inputValue('#proxy_methods'), P1.slice(0, 30));
  assert.equal(await admin.inputValue('#proxy_paths'), P2);
  await assertInert(admin, 'app form');
  await shot(admin, 'security-03-xss-app-form');

  // a stored justification (ROPC needs one) is shown on the app's page as text
  await admin.goto('/admin/apps/new?flow=ropc&kind=user_facing&internal=yes&can_redirect=no');
  await admin.fill('#name', 'xss-ropc');
  await admin.fill('#justification', `Legacy kiosk without a browser. ${P1} ${P2}`);
  const made = await submit(admin, '#register');
  assert.equal(made.status(), 201, await admin.textContent('main'));
  await admin.goto('/admin/apps/xss-ropc');
  const just = await admin.textContent('main');
  assert.ok(just.includes(P1) && just.includes(P2), 'the justification is shown literally');
  await assertInert(admin, 'app page');
  await shot(admin, 'security-04-xss-app-page');
  await admin.goto('/admin/audit?app=xss-ropc');
  assert.ok((await admin.textContent('#audit-table')).includes('xss-ropc'));
  await assertInert(admin, 'audit');

  // the user sessions filter comes back in its fields and the revoke-all form
  await admin.goto(`/admin/sessions?user=${encodeURIComponent(P1)}&app=${encodeURIComponent(P2)}`);
  assert.equal(await admin.inputValue('#f-user'), P1);
  assert.equal(await admin.inputValue('#ra-app'), P2);
  await assertInert(admin, 'user sessions');

  // connection form, refused: the fields come back; the secret never does
  await admin.goto('/admin/connections/new');
  await admin.fill('#name', P2);
  await admin.fill('#environment', P1);
  await admin.fill('#tenant', P2);
  await admin.fill('#client_id', P1);
  await admin.fill('#secret', stack.connectionSecret);
  await admin.click('details.advanced summary');
  await admin.fill('#token_url', `https://x.example/${P1}`);
  await admin.fill('#api_base', `https://x.example/${P2}`);
  await noValidate(admin);
  await submit(admin, '#add-connection');
  assert.equal(await admin.inputValue('#name'), P2);
  assert.equal(await admin.inputValue('#environment'), P1);
  assert.equal(await admin.inputValue('#tenant'), P2);
  assert.equal(await admin.inputValue('#client_id'), P1);
  assert.equal(await admin.inputValue('#secret'), '', 'the secret is never echoed');
  assert.equal(await admin.inputValue('#token_url'), `https://x.example/${P1}`);
  await assertInert(admin, 'connection form');
  await shot(admin, 'security-05-xss-connection-form');

  // the daemon checks the connection's descriptive fields itself: with the real client id and
  // secret, the payloads in environment and tenant are still refused, and come back inert
  await admin.goto('/admin/connections/new');
  await admin.fill('#name', 'xss-conn');
  await admin.fill('#environment', P1);
  await admin.fill('#tenant', P2);
  await admin.fill('#client_id', stack.upstream.clientId);
  await admin.fill('#secret', stack.connectionSecret);
  await admin.click('details.advanced summary');
  await admin.fill('#token_url', stack.upstream.tokenUrl);
  await admin.fill('#api_base', stack.upstream.apiBase);
  const refusedConn = await submit(admin, '#add-connection');
  assert.equal(refusedConn.status(), 400);
  assert.equal(await admin.inputValue('#environment'), P1);
  assert.equal(await admin.inputValue('#tenant'), P2);
  assert.equal(await admin.inputValue('#secret'), '');
  await assertInert(admin, 'connection refused');

  // what the audit log recorded of the attempts above is shown as text too
  await admin.goto('/admin/audit');
  const audited = await admin.textContent('#audit-table');
  assert.ok(audited.includes(`user:${P1}`), 'the failed login of the payload user name is audited and shown as text');
  assert.ok(audited.includes(P1), 'the refused app name is shown as text');
  await assertInert(admin, 'audit after the attempts');
  await shot(admin, 'security-06-audit-after-xss');

  // user form, refused: the name comes back
  await admin.goto('/admin/users');
  await admin.fill('#u-name', P1);
  await admin.fill('#u-password', 'a-long-enough-password');
  await noValidate(admin);
  await submit(admin, '#add-user');
  assert.equal(await admin.inputValue('#u-name'), P1);
  await assertInert(admin, 'users');
  await shot(admin, 'security-07-xss-users');

  // audit filter (GET): the fields come back
  await admin.goto(`/admin/audit?app=${encodeURIComponent(P1)}&actor=${encodeURIComponent(P2)}&connection=${encodeURIComponent(P2)}`);
  assert.equal(await admin.inputValue('#f-app'), P1);
  assert.equal(await admin.inputValue('#f-actor'), P2);
  await assertInert(admin, 'audit filter');
  await shot(admin, 'security-08-xss-audit-filter');

  // query strings and paths that are not echoed at all
  for (const p of [`/admin/wizard?user_present=${encodeURIComponent(P1)}`, `/admin/${encodeURIComponent(P2)}`,
    `/admin/apps/new?flow=${encodeURIComponent(P2)}&kind=${encodeURIComponent(P1)}&from=${encodeURIComponent(P1)}`,
    `/admin/?done=${encodeURIComponent(P1)}`, `/admin/apps/${encodeURIComponent(P1)}`]) {
    await admin.goto(p);
    await assertInert(admin, p);
  }
  // the account form: passwords are never echoed
  await admin.goto('/admin/account');
  await admin.fill('#old_password', P1);
  await admin.fill('#new_password', `${P2}xxxxxxxxxxxx`);
  await admin.fill('#new_password_again', `${P2}xxxxxxxxxxxx`);
  await submit(admin, '#change-password');
  assert.equal(await admin.inputValue('#old_password'), '');
  assert.match(await admin.textContent('#err-old'), /not your current password/);
  await assertInert(admin, 'account');
  await shot(admin, 'security-09-account-refused');
  for (const p of pages) assert.deepEqual(p.problems, [], 'no page errors or CSP violations');
});

test('no page or response ever contained the connection secret', async () => {
  const needles = secretNeedles(stack.connectionSecret);
  let n = 0;
  for (const p of pages) {
    for (const b of p.bodies) {
      n++;
      assert.deepEqual(findNeedles(b.body, needles), [], `${b.url} (${b.status}) contains the connection secret`);
    }
  }
  for (const r of httpBodies) {
    n++;
    assert.deepEqual(findNeedles(r.raw, needles), [], `an HTTP answer (${r.status}) contains the connection secret`);
    for (const v of Object.values(r.headers)) assert.ok(!String(v).includes(stack.connectionSecret));
  }
  assert.ok(n > 50, `only ${n} responses were checked`);
  // and a hand-made connection add with a wrong client id: the refusal does not echo the secret
  const alice = await httpLogin(stack, 'alice', PW.alice);
  const r = await stack.http('POST', '/admin/connections', {
    headers: { cookie: alice.cookie },
    form: { csrf: alice.csrf, name: 'leak-probe', environment: 'test', tenant: 'demo', client_id: 'someone-else',
      secret: stack.connectionSecret, token_url: stack.upstream.tokenUrl, api_base: stack.upstream.apiBase },
  });
  assert.equal(r.status, 422, r.body.slice(0, 300));
  assert.deepEqual(findNeedles(r.raw, needles), []);
  assert.match(r.body, /The upstream refused this client id and secret/);
});
