// The User sessions page in Chromium: reached from the navigation and from an app's page,
// filtered by app and by user, one session revoked with its button (that user's browser is
// logged out at once, the others are not) and all of a user's with the form; an auditor sees
// the list without forms.  Screenshots: tests/output/screenshots/sessions-*.png.
import assert from 'node:assert/strict';

import { test, before, after, useStack } from '../lib/runner.mjs';
import { launchBrowser, newPage, login, submit, shot } from '../lib/browser.mjs';
import { userLogin } from '../lib/oidc-login.mjs';

const DANA = ['dana', 'dana-password-1'];
const ERIN = ['erin', 'erin-password-2'];
const PW = { alice: 'alice-correct-horse-1', audrey: 'audrey-reads-only-333' };
const stack = useStack({
  adminConfig: { login_max_failures: 50 },
  oidcUsers: [DANA, ERIN],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token'] },
});
const users = {};
let browser;
let page;

const tokenStatus = async (cookie) => (await stack.http('POST', '/api/v1/session/token',
  { headers: { cookie, 'x-requested-with': 'fetch' } })).status;
const rows = () => page.$$eval('#sessions-table tbody tr[data-session]', (trs) =>
  trs.map((t) => `${t.getAttribute('data-user')}@${t.getAttribute('data-app')}`).sort());

before(async () => {
  await stack.addUser('alice', 'admin', PW.alice);
  await stack.addUser('audrey', 'auditor', PW.audrey);
  for (const name of ['ui', 'notes']) {
    await stack.ctl(['app', 'add', name, '--connection', 'demo', '--flow', 'authorization_code_pkce',
      '--kind', 'user_facing', '--scopes', 'transcribe streams', '--redirect-uri', `${stack.baseUrl}/callback`,
      '--return-url', `${stack.baseUrl}/healthz`]);
  }
  users.dana1 = await userLogin(stack, 'ui', ...DANA);
  users.dana2 = await userLogin(stack, 'notes', ...DANA);
  users.erin = await userLogin(stack, 'ui', ...ERIN);
  browser = await launchBrowser();
  page = await newPage(browser, stack);
  await login(page, 'alice', PW.alice);
});

after(async () => {
  if (browser) await browser.close();
});

test('from the navigation and from an app\'s page; filtered by app and by user', async () => {
  await page.goto('/admin/');
  await submit(page, 'nav.mainnav a[href="/admin/sessions"]');
  assert.deepEqual(await rows(), ['dana@notes', 'dana@ui', 'erin@ui']);
  assert.equal(await page.getAttribute('nav.mainnav a[href="/admin/sessions"]', 'aria-current'), 'page');
  await page.goto('/admin/apps/ui');
  await submit(page, '#app-sessions');
  assert.equal(new URL(page.url()).search, '?app=ui');
  assert.deepEqual(await rows(), ['dana@ui', 'erin@ui']);
  await page.goto('/admin/sessions');
  await page.fill('#f-user', 'dana');
  await submit(page, '#sessions-filter button[type=submit]');
  assert.deepEqual(await rows(), ['dana@notes', 'dana@ui']);
  assert.equal(await page.inputValue('#ra-user'), 'dana', 'the revoke-all form takes the filter\'s user');
  await shot(page, 'sessions-01-filtered-by-user');
  const html = page.bodies.map((b) => b.body.toString()).join('\n');
  for (const c of Object.values(users)) assert.equal(html.includes(c.slice('fg_user='.length)), false, 'a session id on a page');
});

test('revoke one: that browser is logged out at once, the others are not', async () => {
  for (const c of Object.values(users)) assert.equal(await tokenStatus(c), 200);
  await page.goto('/admin/sessions?app=ui');
  const row = page.locator('#sessions-table tr[data-user="dana"][data-app="ui"]');
  await Promise.all([page.waitForNavigation(), row.locator('button').click()]);
  assert.match(await page.textContent('#flash'), /session was revoked/);
  assert.equal(new URL(page.url()).searchParams.get('app'), 'ui', 'the filter is kept');
  assert.deepEqual(await rows(), ['erin@ui']);
  await shot(page, 'sessions-02-one-revoked');
  assert.equal(await tokenStatus(users.dana1), 401);
  assert.equal(await tokenStatus(users.dana2), 200);
  assert.equal(await tokenStatus(users.erin), 200);
});

test('revoke all of a user\'s sessions with the form', async () => {
  users.dana3 = await userLogin(stack, 'ui', ...DANA);
  await page.goto('/admin/sessions');
  await page.fill('#ra-user', 'dana');
  await submit(page, '#revoke-all');
  assert.match(await page.textContent('#flash'), /user's sessions were revoked/);
  assert.match(await page.textContent('#no-sessions'), /No live user session matches/);
  await page.goto('/admin/sessions');
  assert.deepEqual(await rows(), ['erin@ui']);
  await shot(page, 'sessions-03-user-revoked');
  assert.equal(await tokenStatus(users.dana2), 401);
  assert.equal(await tokenStatus(users.dana3), 401);
  assert.equal(await tokenStatus(users.erin), 200);
  assert.deepEqual(page.problems, [], page.problems.join('; '));
  assert.deepEqual(page.dialogs, []);
});

test('an auditor reads the list; the forms are named as the admin and security roles\'', async () => {
  const ap = await newPage(browser, stack);
  await login(ap, 'audrey', PW.audrey);
  await ap.goto('/admin/sessions');
  assert.equal(await ap.$$eval('#sessions-table tbody tr[data-session]', (t) => t.length), 1);
  assert.equal(await ap.$('#revoke-all-form'), null);
  assert.equal(await ap.$('#sessions-table form'), null);
  assert.match(await ap.textContent('#role-note'), /for the admin and security roles/);
  await shot(ap, 'sessions-04-auditor');
  assert.deepEqual(ap.problems, [], ap.problems.join('; '));
  await ap.context().close();
});
