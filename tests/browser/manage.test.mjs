// The admin's everyday pages beyond the journey: a registration the decision table forbids
// (the reason shown next to the field), allowed scopes edited, an app credential rotated with
// an overlap and an app revoked, users added, re-roled and disabled, and one's own password.
import assert from 'node:assert/strict';

import { test, before, after, useStack } from '../lib/runner.mjs';
import { launchBrowser, newPage, login, submit, shot } from '../lib/browser.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';

const stack = useStack({ adminConfig: { login_max_failures: 50 } });
const PW = { alice: 'alice-correct-horse-1', dora: 'dora-initial-pass-77', alice2: 'alice-new-password-2' };
let browser;
let page;

before(async () => {
  await stack.addUser('alice', 'admin', PW.alice);
  browser = await launchBrowser();
  page = await newPage(browser, stack);
  await login(page, 'alice', PW.alice);
});

after(async () => {
  if (browser) await browser.close();
});

/** Read the one-time credential page. */
async function credential() {
  return {
    client_id: (await page.textContent('#client-id')).trim(),
    client_secret: (await page.textContent('#client-secret')).trim(),
  };
}

test('a registration the decision table forbids is refused, the rule\'s reason next to its field', async () => {
  // client credentials for a user-facing app
  await page.goto('/admin/apps/new?flow=client_credentials&kind=user_facing');
  await page.fill('#name', 'bad-cc');
  let r = await submit(page, '#register');
  assert.equal(r.status(), 422);
  assert.match(await page.textContent('#form-error'), /client-credentials tokens are never issued to a user-facing registration/);
  assert.match(await page.textContent('#err-kind'), /never issued to a user-facing registration/);
  assert.equal(await page.inputValue('#name'), 'bad-cc', 'the form keeps what was typed');
  assert.equal(await page.isChecked('#kind_user_facing'), true);
  await shot(page, 'manage-01-policy-refused-kind');
  // ROPC without a justification
  await page.goto('/admin/apps/new?flow=ropc&kind=user_facing&internal=yes&can_redirect=no');
  await page.fill('#name', 'bad-ropc');
  r = await submit(page, '#register');
  assert.equal(r.status(), 422);
  assert.match(await page.textContent('#err-justification'), /justification/i);
  await shot(page, 'manage-02-policy-refused-justification');
  // a user-facing flow with a scope that must not reach a browser
  await page.goto('/admin/apps/new?flow=authorization_code_pkce&kind=user_facing');
  await page.fill('#name', 'bad-scope');
  await page.check('#scope_interactions');
  r = await submit(page, '#register');
  assert.equal(r.status(), 422);
  assert.match(await page.textContent('#err-scopes'), /limited-scope/);
  assert.doesNotMatch((await stack.ctl(['app', 'list'])).stdout, /bad-(cc|ropc|scope)/);
});

test('the wizard pre-fills a form the daemon accepts, for every row of the table', async () => {
  const ASSISTANT = ['user_present', 'browser_client', 'assistant'];
  const OTHER = ['user_present', 'browser_client', 'backend_secret', 'can_redirect'];
  const rows = [
    [OTHER, ['no']], [ASSISTANT, ['yes', 'yes', 'no']], [OTHER, ['yes', 'no', 'yes', 'yes']], [OTHER, ['yes', 'no', 'yes', 'no']],
    [OTHER, ['yes', 'no', 'no', 'yes']], [ASSISTANT, ['yes', 'yes', 'yes']],
  ];
  for (const [i, [questions, answers]] of rows.entries()) {
    const qs = questions.slice(0, answers.length).map((q, k) => `${q}=${answers[k]}`).join('&');
    await page.goto(`/admin/wizard?${qs}`);
    const flow = await page.getAttribute('#wizard-result', 'data-flow');
    await submit(page, '#register-from-wizard');
    await page.fill('#name', `from-wizard-${i}`);
    if (flow === 'ropc') await page.fill('#justification', 'A kiosk app that cannot open a browser, approved by security.');
    const r = await submit(page, '#register');
    assert.equal(r.status(), 201, `${flow}: ${await page.textContent('main')}`);
    if (flow !== 'client_credentials') await shot(page, `manage-00-registered-${flow}`);
  }
  const list = (await stack.ctl(['app', 'list'])).stdout;
  for (let i = 0; i < rows.length; i++) assert.match(list, new RegExp(`from-wizard-${i}`));
  // the ROPC registration (row 3) carries its warning badge in the list and on its page
  await page.goto('/admin/apps');
  assert.match(await page.textContent('tr[data-app="from-wizard-3"]'), /ROPC · justified/);
  assert.doesNotMatch(await page.textContent('tr[data-app="from-wizard-0"]'), /ROPC/);
  await page.goto('/admin/apps/from-wizard-3');
  assert.match(await page.textContent('#ropc-badge'), /MUST NOT be used/);
  await shot(page, 'manage-00-ropc-badge');
  // the embedded Assistant's registration (row 5) says plainly what reaches the browser
  await page.goto('/admin/apps/from-wizard-5');
  assert.match(await page.textContent('#assistant-badge'), /own full token set .* reaches the user's browser/);
  await shot(page, 'manage-00-assistant-badge');
});

test('allowed scopes are edited; a scope the policy refuses is explained', async () => {
  await page.goto('/admin/apps/new?flow=client_credentials&kind=backend');
  await page.fill('#name', 'svc');
  await page.uncheck('#scope_transcribe');
  assert.equal((await submit(page, '#register')).status(), 201);
  const app = await credential();
  await page.goto('/admin/apps/svc');
  await page.check('#scope_transcribe');
  await page.check('#scope_interactions');
  await submit(page, 'form[action="/admin/apps/svc/scopes"] button');
  assert.match(await page.textContent('#flash'), /scopes were updated/);
  assert.match(await page.textContent('#app-scopes'), /interactions/);
  assertToken(await stack.token(app, 'interactions'), ['interactions', 'openid']);
  await shot(page, 'manage-03-scopes-updated');
  // none at all is refused with the policy's reason
  for (const s of ['transcribe', 'streams', 'interactions']) await page.uncheck(`#scope_${s}`);
  const r = await submit(page, 'form[action="/admin/apps/svc/scopes"] button');
  assert.equal(r.status(), 422);
  assert.match(await page.textContent('#form-error'), /at least one scope/i);
});

test('an app credential is rotated with an overlap: old and new both work until it ends; revoke ends both', async () => {
  await page.goto('/admin/apps/new?flow=client_credentials&kind=backend');
  await page.fill('#name', 'rot');
  assert.equal((await submit(page, '#register')).status(), 201);
  const old = await credential();
  assertToken(await stack.token(old, 'streams'), ['openid', 'streams']);
  await page.goto('/admin/apps/rot');
  await page.selectOption('#overlap_s', '3600');
  const r = await submit(page, '#rotate-app');
  assert.equal(r.status(), 201);
  const fresh = await credential();
  assert.equal(fresh.client_id, old.client_id);
  assert.notEqual(fresh.client_secret, old.client_secret);
  assert.match(await page.textContent('#overlap-note'), /keeps working until/);
  assert.match(await page.textContent('#curl'), /^curl -K - \S+\/oauth2\/token$/);
  assert.equal(await page.textContent('#curl-config'), `user = "${fresh.client_id}:${fresh.client_secret}"\n` +
    'data = "grant_type=client_credentials"\ndata = "scope=streams"');
  assert.match(await page.textContent('main'), /Allowed scopes: .*streams/);
  await shot(page, 'manage-04-app-rotated');
  assertToken(await stack.token(fresh, 'streams'), ['openid', 'streams']);
  assertToken(await stack.token(old, 'streams'), ['openid', 'streams']);
  await page.goto('/admin/apps/rot');
  await page.click('details.danger-zone summary');
  await submit(page, '#revoke-app');
  assert.match(await page.textContent('#flash'), /revoked/);
  await shot(page, 'manage-05-app-revoked');
  assert.equal((await stack.token(fresh, 'streams')).status, 401);
  assert.equal((await stack.token(old, 'streams')).status, 401);
  await page.goto('/admin/apps');
  assert.match(await page.textContent('tr[data-app="rot"]'), /revoked/);
});

test('users: added, re-roled and disabled by an admin; the new user logs in until disabled', async () => {
  await page.goto('/admin/users');
  await page.fill('#u-name', 'dora');
  await page.selectOption('#u-role', 'auditor');
  await page.fill('#u-password', PW.dora);
  await submit(page, '#add-user');
  assert.match(await page.textContent('#flash'), /user was added/);
  assert.equal(await page.inputValue('#role-dora'), 'auditor');
  const dora = await newPage(browser, stack);
  await login(dora, 'dora', PW.dora);
  assert.match(await dora.textContent('.who'), /dora\s+auditor/);
  await page.selectOption('#role-dora', 'security');
  await submit(page, 'tr[data-user="dora"] .role-form button');
  assert.match(await page.textContent('#flash'), /role was changed/);
  assert.equal(await page.inputValue('#role-dora'), 'security');
  await dora.reload();
  assert.match(await dora.textContent('.who'), /dora\s+security/, 'the new role applies to the live session');
  await submit(page, 'form[action="/admin/users/dora/disable"] button');
  assert.match(await page.textContent('#flash'), /disabled/);
  await shot(page, 'manage-06-users');
  await dora.reload();
  assert.match(dora.url(), /\/admin\/login/, 'disabling ends the user\'s sessions');
  await dora.fill('#user', 'dora');
  await dora.fill('#password', PW.dora);
  await submit(dora, '#login-form button[type=submit]');
  assert.match(await dora.textContent('#login-error'), /Wrong user name or password/);
  await submit(page, 'form[action="/admin/users/dora/enable"] button');
  assert.match(await page.textContent('#flash'), /enabled/);
  await dora.context().close();
});

test('one\'s own password: the current one is required, the new one works', async () => {
  await page.goto('/admin/account');
  await page.fill('#old_password', PW.alice);
  await page.fill('#new_password', PW.alice2);
  await page.fill('#new_password_again', `${PW.alice2}x`);
  let r = await submit(page, '#change-password');
  assert.equal(r.status(), 400);
  assert.match(await page.textContent('#err-new'), /differ/);
  await page.fill('#old_password', PW.alice);
  await page.fill('#new_password', PW.alice2);
  await page.fill('#new_password_again', PW.alice2);
  r = await submit(page, '#change-password');
  assert.match(await page.textContent('#flash'), /password was changed/);
  await shot(page, 'manage-07-password-changed');
  const other = await newPage(browser, stack);
  await login(other, 'alice', PW.alice2);
  assert.equal(await other.textContent('h1'), 'Dashboard');
  await other.context().close();
  assert.deepEqual(page.problems, []);
  assert.deepEqual(page.dialogs, []);
});
