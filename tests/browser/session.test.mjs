// Admin sessions end: after the daemon's idle timeout ([admin] session_idle_s, 14 s here), at
// logout (the cookie replayed by hand opens nothing), and wrong passwords are rate-limited with
// one non-revealing message, then 429 with Retry-After.
import assert from 'node:assert/strict';

import { test, before, after, useStack } from '../lib/runner.mjs';
import { launchBrowser, newPage, login, submit, shot, httpLogin } from '../lib/browser.mjs';
import { sleep } from '../lib/util.mjs';

const IDLE_S = 14;
// the daemon records activity at most every 10 s (SESSION_TOUCH_MS): requests 11.5 s apart are
// each recorded, and each comes within the idle time of the one before
const ACTIVE_GAP_MS = 11500;
const MAX_FAILURES = 4;
const stack = useStack({ adminConfig: { session_idle_s: IDLE_S, login_max_failures: MAX_FAILURES } });
const PW = { alice: 'alice-correct-horse-1', bob: 'bob-is-another-admin-9' };

let browser;

before(async () => {
  await stack.addUser('alice', 'admin', PW.alice);
  await stack.addUser('bob', 'admin', PW.bob);
  browser = await launchBrowser();
});

after(async () => {
  if (browser) await browser.close();
});

test(`an idle session expires after ${IDLE_S} s (the daemon's clock, not the cookie's)`, async () => {
  const page = await newPage(browser, stack);
  await login(page, 'alice', PW.alice);
  const { cookie } = await httpLogin(stack, 'alice', PW.alice);
  // activity keeps a session alive past the idle time
  for (let i = 0; i < 2; i++) {
    await sleep(ACTIVE_GAP_MS);
    assert.equal((await stack.http('GET', '/admin/', { headers: { cookie } })).status, 200, 'an active session ended early');
  }
  await sleep(IDLE_S * 1000 + 1500);
  const r = await stack.http('GET', '/admin/', { headers: { cookie } });
  assert.equal(r.status, 303);
  assert.equal(r.headers.location, '/admin/login?done=expired');
  assert.match([].concat(r.headers['set-cookie']).join(), /fg_session=; Path=\/; Max-Age=0/);
  // the browser's session, idle as long, is over too; a form post from it is refused
  await page.goto('/admin/apps');
  assert.match(page.url(), /\/admin\/login\?done=expired$/);
  assert.match(await page.textContent('#flash'), /session has ended/);
  await shot(page, 'session-01-expired');
  const post = await stack.http('POST', '/admin/rotation/demo/stop', { form: { csrf: 'x' }, headers: { cookie } });
  assert.equal(post.status, 403);
  await page.context().close();
}, { timeout: 90000 });

test('logout invalidates the session on the server: the old cookie replayed opens nothing', async () => {
  const s = await httpLogin(stack, 'bob', PW.bob);
  assert.equal((await stack.http('GET', '/admin/apps', { headers: { cookie: s.cookie } })).status, 200);
  const out = await stack.http('POST', '/admin/logout', { form: { csrf: s.csrf }, headers: { cookie: s.cookie } });
  assert.equal(out.status, 303);
  assert.equal(out.headers.location, '/admin/login?done=logged_out');
  for (const p of ['/admin/', '/admin/apps', '/admin/audit/export']) {
    const r = await stack.http('GET', p, { headers: { cookie: s.cookie } });
    assert.equal(r.status, 303, `${p} after logout: ${r.status}`);
    assert.match(r.headers.location, /^\/admin\/login/);
  }
  const post = await stack.http('POST', '/admin/apps', { form: { csrf: s.csrf, name: 'after-logout' }, headers: { cookie: s.cookie } });
  assert.equal(post.status, 403);
  // cookies that cannot be a session are no session at all
  for (const v of ['x'.repeat(300), 'abc', '"quoted"', '../../etc/passwd', s.cookie.split('=')[1].slice(0, -1)]) {
    const r = await stack.http('GET', '/admin/apps', { headers: { cookie: `fg_session=${v}` } });
    assert.equal(r.status, 303, `cookie ${v.slice(0, 20)}: ${r.status}`);
    assert.match(r.headers.location, /^\/admin\/login/);
  }
});

test(`wrong passwords: one message for a wrong user or password, then 429 after ${MAX_FAILURES} failures`, async () => {
  const page = await newPage(browser, stack);
  // a wrong user name and a wrong password look the same
  const a = await stack.http('POST', '/admin/login', { form: { user: 'nobody-here', password: 'whatever-pass-1' } });
  const b = await stack.http('POST', '/admin/login', { form: { user: 'bob', password: 'wrong-password-1' } });
  assert.equal(a.status, b.status);
  const msg = (r) => /id="login-error">([^<]*)</.exec(r.body)?.[1];
  assert.equal(msg(a), 'Wrong user name or password.');
  assert.equal(msg(a), msg(b));
  let limited = null;
  for (let i = 0; i < MAX_FAILURES + 2 && !limited; i++) {
    await page.goto('/admin/login');
    await page.fill('#user', 'bob');
    await page.fill('#password', `wrong-password-${i}`);
    const r = await submit(page, '#login-form button[type=submit]');
    if (r.status() === 429) limited = r;
    else assert.equal(r.status(), 403);
  }
  assert.ok(limited, `no 429 after ${MAX_FAILURES + 2} wrong passwords`);
  const retry = Number(limited.headers()['retry-after']);
  assert.ok(retry > 0, `Retry-After: ${limited.headers()['retry-after']}`);
  assert.equal(await page.textContent('#login-error'), `Too many attempts, try again in ${retry} s.`);
  assert.equal(await page.inputValue('#password'), '', 'the password is not echoed');
  await shot(page, 'session-02-rate-limited');
  // while limited, even the right password is refused
  const right = await stack.http('POST', '/admin/login', { form: { user: 'bob', password: PW.bob } });
  assert.equal(right.status, 429);
  assert.ok(Number(right.headers['retry-after']) > 0);
  await page.context().close();
});
