// Each page shows only the forms the session's role may use, and a sentence naming the role that
// can do the rest; logged in as admin, as security and as auditor. The dashboard shows each
// connection's health and draws every app's issuance on one labelled scale.
import assert from 'node:assert/strict';

import { test, before, after, useStack } from '../lib/runner.mjs';
import { launchBrowser, newPage, login, shot } from '../lib/browser.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';
import { closedPort } from '../lib/ports.mjs';

const stack = useStack({ adminConfig: { login_max_failures: 50 } });
const PW = { alice: 'alice-correct-horse-1', sam: 'sam-battery-staple-22', audrey: 'audrey-reads-only-333' };
const USERS = { admin: 'alice', security: 'sam', auditor: 'audrey' };
const APPS_NOTE = 'Registering and changing apps is for the admin role.';
const CONN_NOTE = 'Adding and removing connections is for the admin role.';
const ROT_NOTE = 'Rotation and the emergency stop are for the security role.';
const USERS_NOTE = 'Users and their roles are managed by the admin role.';
const SESSIONS_NOTE = 'Revoking user sessions is for the admin and security roles.';

let browser;

before(async () => {
  await stack.addUser('alice', 'admin', PW.alice);
  await stack.addUser('sam', 'security', PW.sam);
  await stack.addUser('audrey', 'auditor', PW.audrey);
  const busy = await stack.addApp('busy', { scopes: 'transcribe' });
  const quiet = await stack.addApp('quiet', { scopes: 'transcribe' });
  for (let i = 0; i < 30; i++) assertToken(await stack.token(busy, 'transcribe'));
  assertToken(await stack.token(quiet, 'transcribe'));
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
});

/** What role-dependent parts a page shows. */
async function visit(page, path) {
  const resp = await page.goto(path);
  const note = await page.$('#role-note');
  return {
    status: resp.status(),
    note: note ? (await note.textContent()).trim() : null,
    has: async (sel) => (await page.$(sel)) !== null,
    text: await page.textContent('main'),
  };
}

/** The pages and what each role must (and must not) see there. */
async function checkRole(role) {
  const page = await newPage(browser, stack);
  await login(page, USERS[role], PW[USERS[role]]);
  const isAdmin = role === 'admin';
  const isSecurity = role === 'security';

  let v = await visit(page, '/admin/');
  assert.equal(v.status, 200);
  assert.equal(/Register an app with the wizard/.test(v.text), isAdmin, `${role}: dashboard register button`);
  await shot(page, `roles-${role}-dashboard`);

  v = await visit(page, '/admin/apps');
  assert.equal(await v.has('#new-app'), isAdmin, `${role}: apps, register button`);
  assert.equal(v.note, isAdmin ? null : APPS_NOTE, `${role}: apps note`);

  v = await visit(page, '/admin/apps/new');
  assert.equal(await v.has('#app-form'), isAdmin, `${role}: the app form`);
  assert.equal(v.note, isAdmin ? null : APPS_NOTE, `${role}: new app note`);
  if (!isAdmin) await shot(page, `roles-${role}-app-new`);

  v = await visit(page, '/admin/apps/busy');
  assert.equal(await v.has('#rotate-app'), isAdmin, `${role}: app credential rotation`);
  assert.equal(await v.has('#revoke-app'), isAdmin, `${role}: app revocation`);
  assert.equal(v.note, isAdmin ? null : APPS_NOTE, `${role}: app page note`);

  v = await visit(page, '/admin/wizard?user_present=no');
  assert.equal(await v.has('#register-from-wizard'), isAdmin, `${role}: wizard register button`);
  assert.equal(v.note, isAdmin ? null : APPS_NOTE, `${role}: wizard note`);

  v = await visit(page, '/admin/connections');
  assert.equal(await v.has('#new-connection'), isAdmin, `${role}: add connection button`);
  assert.equal(v.note, isAdmin ? null : CONN_NOTE, `${role}: connections note`);

  v = await visit(page, '/admin/connections/new');
  assert.equal(await v.has('#connection-form'), isAdmin, `${role}: the connection form`);
  assert.equal(v.note, isAdmin ? null : CONN_NOTE, `${role}: new connection note`);

  v = await visit(page, '/admin/connections/demo');
  assert.equal(await v.has('#test-connection'), role !== 'auditor', `${role}: test button`);
  assert.equal(await v.has('form[action="/admin/connections/demo/remove"]'), isAdmin, `${role}: remove`);
  assert.equal(v.note, isAdmin ? null : role === 'auditor' ? 'Testing a connection is for the admin and ' +
    'security roles; adding and removing one is for the admin role.' : CONN_NOTE, `${role}: connection note`);

  v = await visit(page, '/admin/rotation');
  assert.equal(v.note, isSecurity ? null : ROT_NOTE, `${role}: rotation list note`);

  v = await visit(page, '/admin/rotation/demo');
  assert.equal(await v.has('#rotate-form'), isSecurity, `${role}: rotation form`);
  assert.equal(await v.has('#emergency-stop'), isSecurity, `${role}: emergency stop`);
  assert.equal(/Paste it here/.test(v.text), isSecurity, `${role}: the paste step only beside its field`);
  assert.equal(v.note, isSecurity ? null : ROT_NOTE, `${role}: rotation note`);
  await shot(page, `roles-${role}-rotation`);

  v = await visit(page, '/admin/sessions');
  assert.equal(v.status, 200, `${role}: user sessions page status`);
  assert.equal(await v.has('#revoke-all-form'), role !== 'auditor', `${role}: revoke-all form`);
  assert.equal(v.note, role === 'auditor' ? SESSIONS_NOTE : null, `${role}: user sessions note`);
  if (role === 'auditor') await shot(page, `roles-${role}-sessions`);

  v = await visit(page, '/admin/users');
  assert.equal(v.status, isAdmin ? 200 : 403, `${role}: users page status`);
  assert.equal(await v.has('#user-form'), isAdmin, `${role}: add user form`);
  assert.equal(v.note, isAdmin ? null : USERS_NOTE, `${role}: users note`);
  if (!isAdmin) await shot(page, `roles-${role}-users`);

  assert.deepEqual(page.problems, [], `${role}: ${page.problems.join('; ')}`);
  await page.context().close();
}

test('admin: apps, connections and users; rotation and the stop named as security\'s', () => checkRole('admin'));
test('security: rotation and the stop; apps, connections and users named as admin\'s', () => checkRole('security'));
test('auditor: reads everything, every form named as another role\'s', () => checkRole('auditor'));

test('the dashboard: each connection\'s health, and one labelled scale for every app\'s chart', async () => {
  const page = await newPage(browser, stack);
  await login(page, 'audrey', PW.audrey);
  await page.goto('/admin/');
  const row = await page.$('#health tr[data-connection="demo"]');
  assert.ok(row, 'demo is listed in the connection health table');
  assert.equal(await row.getAttribute('data-status'), 'ok');
  assert.match(await page.textContent('#health-counts'), /1 ok · 0 degraded/);
  const scales = await page.$$eval('#issuance svg.hours-chart', (s) => s.map((x) => x.getAttribute('data-scale')));
  assert.equal(scales.length, 2, 'both apps are charted');
  assert.equal(new Set(scales).size, 1, `one scale: ${scales}`);
  assert.equal(scales[0], '50', '30 tokens in the busiest hour: the scale tops at 50');
  assert.match(await page.textContent('#issuance-scale'), /one scale.*50 tokens per hour/);
  const tallest = async (app) => page.$eval(`#issuance svg[aria-label^="${app}:"]`, (s) =>
    Math.max(...[...s.querySelectorAll('rect.bar')].map((b) => Number(b.getAttribute('height')))));
  const big = await tallest('busy');
  const small = await tallest('quiet');
  assert.ok(big > 10 * small, `busy (30) is drawn far taller than quiet (1): ${big} vs ${small}`);
  await shot(page, 'roles-dashboard-health-and-scale');

  // a connection whose upstream cannot be reached: failing, first, with why; demo still ok
  await stack.addConnection('unreachable', { tokenUrl: `https://127.0.0.1:${await closedPort()}/token`, noVerify: true });
  const app = await stack.addApp('on-unreachable', { connection: 'unreachable', scopes: 'transcribe' });
  assert.equal((await stack.token(app, 'transcribe')).status, 503);
  await page.goto('/admin/');
  assert.equal(await page.getAttribute('#health tbody tr:first-child', 'data-connection'), 'unreachable');
  assert.equal(await page.getAttribute('#health tr[data-connection="unreachable"]', 'data-status'), 'degraded');
  assert.match(await page.textContent('#health tr[data-connection="unreachable"] .why'), /\S/);
  assert.equal(await page.getAttribute('#health tr[data-connection="demo"]', 'data-status'), 'ok');
  assert.match(await page.textContent('#health-overall'), /1 failing/);
  await shot(page, 'roles-dashboard-degraded');
  await page.context().close();
});
