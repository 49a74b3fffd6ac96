// Keyboard-only use and labels: the login form and the wizard can be completed with Tab,
// Space and Enter alone (with and without JavaScript), and every form control on every page
// has a label.
import assert from 'node:assert/strict';

import { test, before, after, useStack } from '../lib/runner.mjs';
import { launchBrowser, newPage, login, shot } from '../lib/browser.mjs';

const stack = useStack();
const PW = { alice: 'alice-correct-horse-1', sam: 'sam-battery-staple-22' };
let browser;

before(async () => {
  await stack.addUser('alice', 'admin', PW.alice);
  await stack.addUser('sam', 'security', PW.sam);
  await stack.addApp('kb-app', { scopes: 'transcribe streams' });
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
});

const focused = (page) => page.evaluate(() => document.activeElement && (document.activeElement.id || document.activeElement.tagName));

/** Press Tab until the element with id has the focus; returns how many presses it took. */
async function tabTo(page, id, max = 40) {
  for (let i = 1; i <= max; i++) {
    await page.keyboard.press('Tab');
    if (await focused(page) === id) return i;
  }
  throw new Error(`#${id} never got the focus in ${max} Tab presses (last: ${await focused(page)})`);
}

/** Wait for a page load started by a key press. */
async function pressAndLoad(page, key) {
  await Promise.all([page.waitForNavigation(), page.keyboard.press(key)]);
}

test('the login form: typed, tabbed and sent with Enter', async () => {
  const page = await newPage(browser, stack);
  await page.goto('/admin/login');
  assert.equal(await focused(page), 'user', 'the user name field has the focus on load');
  await page.keyboard.type('alice');
  await page.keyboard.press('Tab');
  assert.equal(await focused(page), 'password');
  await page.keyboard.type(PW.alice);
  await pressAndLoad(page, 'Enter');
  assert.match(page.url(), /\/admin\/$/);
  assert.equal(await page.textContent('h1'), 'Dashboard');
  // the skip link is the first stop and leads to the content
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement.textContent), 'Skip to content');
  await page.context().close();
});

for (const js of [true, false]) {
  test(`the wizard with Tab, Space and Enter only (JavaScript ${js ? 'on' : 'off'})`, async () => {
    const page = await newPage(browser, stack, { javaScriptEnabled: js });
    await login(page, 'alice', PW.alice);
    await page.goto('/admin/wizard');
    // answers: yes (Enter), no (Space), no (Enter), yes (Space) -> the fallback row
    const steps = [['answer-yes', 'Enter'], ['answer-no', 'Space'], ['answer-no', 'Enter'], ['answer-yes', 'Space']];
    for (let i = 0; i < steps.length; i++) {
      const [id, key] = steps[i];
      const presses = await tabTo(page, id);
      if (i > 0 && js) assert.ok(presses <= 2, `after a step the answers are 1-2 Tabs away (took ${presses})`);
      const last = i === steps.length - 1;
      if (last || !js) {
        await pressAndLoad(page, key);
      } else {
        await page.keyboard.press(key);
        await page.waitForFunction((n) => document.getElementById('wizard-step').textContent === String(n), i + 2);
        assert.equal(await focused(page), 'wizard-question', 'the focus moves to the next question');
      }
    }
    assert.equal(await page.getAttribute('#wizard-result', 'data-row'), 'fallback');
    await tabTo(page, 'register-from-wizard');
    await pressAndLoad(page, 'Enter');
    assert.match(page.url(), /\/admin\/apps\/new\?flow=authorization_code_pkce&kind=user_facing/);
    await shot(page, `keyboard-01-wizard-to-form-js-${js ? 'on' : 'off'}`);
    await page.context().close();
  });
}

test('every form control on every page has a label, every button a name, every page one h1', async () => {
  const check = async (page, what) => {
    const bad = await page.evaluate(() => {
      const out = [];
      for (const el of document.querySelectorAll('input, select, textarea')) {
        if (el.type === 'hidden') continue;
        const named = (el.labels && [...el.labels].some((l) => l.textContent.trim())) ||
          el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
        if (!named) out.push(`unlabelled ${el.tagName.toLowerCase()}#${el.id || '?'}[name=${el.name}]`);
      }
      for (const b of document.querySelectorAll('button, a[href]')) {
        if (!b.textContent.trim() && !b.getAttribute('aria-label')) out.push(`nameless ${b.tagName.toLowerCase()}`);
      }
      if (document.querySelectorAll('h1').length !== 1) out.push(`${document.querySelectorAll('h1').length} h1`);
      if (document.documentElement.lang !== 'en') out.push('no lang');
      return out;
    });
    assert.deepEqual(bad, [], what);
  };
  const anon = await newPage(browser, stack);
  await anon.goto('/admin/login');
  await check(anon, 'login');
  await anon.context().close();
  for (const [user, pages] of [
    ['alice', ['/admin/', '/admin/wizard', '/admin/wizard?user_present=yes&browser_client=no&backend_secret=no&can_redirect=yes',
      '/admin/apps', '/admin/apps/new', '/admin/apps/kb-app', '/admin/connections', '/admin/connections/new',
      '/admin/connections/demo', '/admin/audit', '/admin/users', '/admin/account', '/admin/nope',
      '/admin/sessions']],
    ['sam', ['/admin/rotation', '/admin/rotation/demo']],
  ]) {
    const page = await newPage(browser, stack);
    await login(page, user, PW[user]);
    for (const p of pages) {
      await page.goto(p);
      await check(page, `${user} ${p}`);
    }
    await page.context().close();
  }
});
