// Chromium (Debian's /usr/bin/chromium) driven by playwright-core, for tests/browser/*.test.mjs.
//
// launchBrowser() starts one headless browser; playwright makes a fresh temporary profile
// (--user-data-dir) for every launch and removes it on close (passing --user-data-dir in args
// is refused by playwright). newPage() gives a page that records what a test must not miss:
// JavaScript dialogs (an XSS that fired), page errors, CSP violations in the console, and every
// response body (tests search them for secrets). shot() saves a full-page screenshot under
// tests/output/screenshots/ (gitignored), one file per page and state, overwritten each run.
import { mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

import { TESTS_DIR } from './stack.mjs';

export const CHROMIUM = process.env.FLOWGATE_CHROMIUM || '/usr/bin/chromium';
export const SHOT_DIR = join(TESTS_DIR, 'output', 'screenshots');

export const LAPTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };

/** The headless browser; close it in an after() hook. */
export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} not found (apt-get install chromium; script/bootstrap does)`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
    timeout: 30000,
  });
}

/**
 * A new context and page. The returned page has:
 *   page.dialogs      messages of every alert/confirm/prompt (each is dismissed)
 *   page.problems     page errors and console errors (CSP violations show up here)
 *   page.bodies       [{url, status, body}] of every response the page received
 * @param {object} [o]  {viewport, javaScriptEnabled, keepBodies, ignoreHTTPSErrors (the OIDC server's test CA)}
 */
export async function newPage(browser, stack, o = {}) {
  const context = await browser.newContext({
    viewport: o.viewport || LAPTOP,
    javaScriptEnabled: o.javaScriptEnabled !== false,
    baseURL: stack.baseUrl,
    permissions: ['clipboard-read', 'clipboard-write'],
    ignoreHTTPSErrors: o.ignoreHTTPSErrors === true,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.dialogs = [];
  page.problems = [];
  page.bodies = [];
  page.on('dialog', (d) => { page.dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
  // console errors, except the status lines Chromium logs for every 4xx/5xx answer (tests check
  // statuses themselves); CSP violations ("Refused to ...") and script errors stay
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status/.test(m.text())) {
      page.problems.push(`console: ${m.text()}`);
    }
  });
  if (o.keepBodies !== false) {
    page.on('response', async (r) => {
      try {
        page.bodies.push({ url: r.url(), status: r.status(), headers: await r.allHeaders(), body: await r.body() });
      } catch { /* redirects and aborted loads have no body */ }
    });
  }
  return page;
}

/** Log in through the form; returns the response of the page it lands on. */
export async function login(page, user, password) {
  await page.goto('/admin/login');
  await page.fill('#user', user);
  await page.fill('#password', password);
  const [resp] = await Promise.all([page.waitForNavigation(), page.click('#login-form button[type=submit]')]);
  return resp;
}

/** Submit a form by clicking selector and wait for the page it leads to. */
export async function submit(page, selector) {
  const [resp] = await Promise.all([page.waitForNavigation(), page.click(selector)]);
  return resp;
}

/** Save a full-page screenshot as tests/output/screenshots/NAME.png; returns the path. */
export async function shot(page, name) {
  mkdirSync(SHOT_DIR, { recursive: true });
  const path = join(SHOT_DIR, `${name.replace(/[^a-zA-Z0-9_.-]+/g, '-')}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

/** The session cookie of a browser page's context, as "name=value" for plain HTTP requests. */
export async function sessionCookie(page) {
  const c = (await page.context().cookies()).find((k) => /fg_session$/.test(k.name));
  return c ? `${c.name}=${c.value}` : null;
}

/**
 * Log in over plain HTTP (no browser): returns {cookie, csrf} where csrf is read from a page's
 * hidden form field, as a hand-made client would.
 */
export async function httpLogin(stack, user, password) {
  const r = await stack.http('POST', '/admin/login', { form: { user, password } });
  if (r.status !== 303) throw new Error(`login as ${user}: HTTP ${r.status}: ${r.body.slice(0, 300)}`);
  const set = [].concat(r.headers['set-cookie'] || []);
  const m = set.map((c) => /^((?:__Host-)?fg_session)=([^;]+)/.exec(c)).find(Boolean);
  if (!m) throw new Error(`login as ${user}: no session cookie in ${JSON.stringify(set)}`);
  const cookie = `${m[1]}=${m[2]}`;
  const page = await stack.http('GET', '/admin/account', { headers: { cookie } });
  const csrf = /name="csrf" value="([^"]+)"/.exec(page.body);
  if (!csrf) throw new Error(`no csrf field on /admin/account for ${user} (HTTP ${page.status})`);
  return { cookie, csrf: csrf[1] };
}
