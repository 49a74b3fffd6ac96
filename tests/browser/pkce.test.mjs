// Authorization Code with PKCE in Chromium: /login/{app} at flowgate, the OIDC server's login
// page, /callback back at flowgate, an HttpOnly SameSite=Lax session cookie, then a
// limited-scope token and a stream session for that user from the page itself (fetch with the
// cookie), attributed to the user in the audit log; wrong state, missing CSRF header and logout.
import assert from 'node:assert/strict';

import { test, before, after, useStack } from '../lib/runner.mjs';
import { launchBrowser, shot } from '../lib/browser.mjs';
import { decodeJwt } from '../lib/util.mjs';

const DANA = ['dana', 'dana-password-1'];
const stack = useStack({
  cortiApi: true,
  oidcUsers: [DANA],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token', 'password'] },
});
const ENCOUNTER = { encounter: { identifier: 'enc-b1', status: 'planned', type: 'consultation' } };

let browser;
let page;

before(async () => {
  await stack.ctl(['app', 'add', 'ui', '--connection', 'demo', '--flow', 'authorization_code_pkce', '--kind', 'user_facing',
    '--scopes', 'transcribe streams', '--redirect-uri', `${stack.baseUrl}/callback`, '--return-url', `${stack.baseUrl}/healthz`]);
  browser = await launchBrowser();
  // the OIDC server's login page is served with the test CA's certificate
  const context = await browser.newContext({ baseURL: stack.baseUrl, ignoreHTTPSErrors: true });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
});

after(async () => {
  if (browser) await browser.close();
});

/**
 * fetch() from a same-origin page (the browser's cookies).  flowgate's own HTML pages forbid
 * fetch by their CSP (default-src 'none'), so the calls are made from the return URL's page.
 */
async function pageFetch(path, init) {
  if (page.url() !== `${stack.baseUrl}/healthz`) await page.goto('/healthz');
  return page.evaluate(async ([p, i]) => {
    const r = await fetch(p, i);
    const text = await r.text();
    let json; try { json = JSON.parse(text); } catch { /* not JSON */ }
    return { status: r.status, json, text, cacheControl: r.headers.get('cache-control') };
  }, [path, init]);
}

const tokenRequest = (scope) => pageFetch('/api/v1/session/token', {
  method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ scope }),
});

test('the whole PKCE login in Chromium lands on the return URL with an HttpOnly, SameSite=Lax session cookie', async () => {
  await page.goto('/login/ui');
  assert.match(page.url(), new RegExp(`^https://127\\.0\\.0\\.1:${stack.upstreamPort}/`), `not at the login page: ${page.url()}`);
  await page.fill('#username', DANA[0]);
  await page.fill('#password', DANA[1]);
  await shot(page, 'pkce-01-login');
  await Promise.all([page.waitForURL(`${stack.baseUrl}/healthz`), page.click('#login')]);
  assert.equal(page.url(), `${stack.baseUrl}/healthz`);
  const cookies = await page.context().cookies(stack.baseUrl);
  const user = cookies.find((c) => c.name === 'fg_user');
  assert.ok(user, `no fg_user cookie: ${JSON.stringify(cookies.map((c) => c.name))}`);
  assert.equal(user.httpOnly, true);
  assert.equal(user.sameSite, 'Lax');
  assert.equal(user.path, '/');
  assert.ok(!cookies.some((c) => c.name === 'fg_login'), 'the login state cookie was left behind');
  // the page's scripts cannot read it
  assert.equal(await page.evaluate(() => document.cookie.includes('fg_user')), false);
});

test('the logged-in page gets a streams-only token, attributed to the user in the audit log', async () => {
  const r = await tokenRequest('streams');
  assert.equal(r.status, 200, r.text);
  assert.equal(r.json.scope, 'openid streams');
  assert.equal(decodeJwt(r.json.access_token).payload.scope, 'openid streams');
  assert.match(r.cacheControl, /no-store/);
  const records = JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', '200'])).stdout).records;
  const rec = records.find((x) => x.event === 'token.issue' && x.app === 'ui');
  assert.ok(rec, JSON.stringify(records.slice(-10)));
  assert.equal(rec.actor, 'oidc:dana');
  const broad = await tokenRequest('interactions');
  assert.equal(broad.status, 400);
  assert.equal(broad.json.error, 'invalid_scope');
});

test('the logged-in page opens a stream session with its cookie', async () => {
  await stack.cortiReset();
  const r = await pageFetch('/api/v1/stream-sessions', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(ENCOUNTER),
  });
  assert.equal(r.status, 201, r.text);
  assert.match(r.json.websocketUrl, /^wss:\/\//);
  assert.equal(r.json.scope, 'openid streams');
  const [req] = (await stack.cortiRequests()).filter((x) => x.method === 'POST');
  assert.deepEqual(req.body, ENCOUNTER);
});

test('without Content-Type: application/json or X-Requested-With the token POST is refused (CSRF)', async () => {
  const r = await pageFetch('/api/v1/session/token', {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'scope=streams',
  });
  assert.equal(r.status, 403, r.text);
  const withHeader = await pageFetch('/api/v1/session/token', {
    method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Requested-With': 'fetch' }, body: 'scope=streams',
  });
  assert.equal(withHeader.status, 200, withHeader.text);
});

test('a hand-made callback with a wrong state is a 400 page', async () => {
  const resp = await page.goto('/callback?code=x&state=y');
  assert.equal(resp.status(), 400);
  assert.match(await page.textContent('h1'), /Sign-in failed/);
  await shot(page, 'pkce-02-bad-state');
  // the session is untouched by it
  assert.equal((await tokenRequest('streams')).status, 200);
});

test('logout: GET shows a confirmation and changes nothing; POST ends the session', async () => {
  await page.goto('/logout');
  await shot(page, 'pkce-03-logout');
  assert.equal((await tokenRequest('streams')).status, 200, 'GET /logout ended the session');
  await page.goto('/logout');
  const old = (await page.context().cookies(stack.baseUrl)).find((c) => c.name === 'fg_user');
  // the logout answer sends the browser to / (which the shipped nginx site sends on to the admin UI)
  const [resp] = await Promise.all([page.waitForResponse((x) => new URL(x.url()).pathname === '/logout' &&
    x.request().method() === 'POST'), page.click('#logout')]);
  assert.ok([302, 303].includes(resp.status()), `logout answered ${resp.status()}`);
  assert.equal(new URL(resp.headers().location, stack.baseUrl).pathname, '/', 'logout did not go to /');
  await page.waitForLoadState('networkidle');
  const cookies = await page.context().cookies(stack.baseUrl);
  assert.ok(!cookies.some((c) => c.name === 'fg_user'), 'the session cookie is still there');
  const r = await tokenRequest('streams');
  assert.equal(r.status, 401, r.text);
  assert.equal(r.json.error, 'unauthenticated');
  // the old cookie, put back by hand, no longer names a session
  await page.context().addCookies([old]);
  const again = await tokenRequest('streams');
  assert.equal(again.status, 401, `a logged-out session still works: ${again.text}`);
});
