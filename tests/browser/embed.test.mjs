// The embedded Corti Assistant in Chromium (issue 10): /embed/{app} sends a stranger to the
// app's login at the real OIDC test server, then frames the stand-in Assistant
// (tests/upstream/assistant.mjs, its own origin) and hands it the user's token set with the
// "auth" message; the stand-in checks it and reports the user's id and email.  A short token
// lifetime brings a second handoff; a daemon restart keeps the user signed in; a message from
// another origin gets nothing; an assistant that refuses shows a clear error.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import https from 'node:https';
import { readFileSync } from 'node:fs';

import { test, before, after, useStack } from '../lib/runner.mjs';
import { launchBrowser, shot } from '../lib/browser.mjs';
import { freePort } from '../lib/ports.mjs';
import { TESTS_DIR, waitFor } from '../lib/stack.mjs';

const DANA = ['dana', 'dana-password-1'];
const ASSISTANT_PORT = await freePort();
const ASSISTANT = `https://127.0.0.1:${ASSISTANT_PORT}`;
const stack = useStack({
  oidcUsers: [DANA],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token'] },
  upstreamConfig: { assistant_origin: ASSISTANT },
});

let browser;
let page;
let assistant;

/** The stand-in's control API. */
function control(method, path) {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: '127.0.0.1', port: ASSISTANT_PORT, method, path, ca: readFileSync(stack.tls.caCert) }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const t = Buffer.concat(chunks).toString('utf8');
        resolve(t ? JSON.parse(t) : null);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  await stack.ctl(['app', 'add', 'scribe', '--connection', 'demo', '--flow', 'authorization_code_pkce', '--kind', 'assistant',
    '--scopes', 'transcribe streams', '--redirect-uri', `${stack.baseUrl}/callback`, '--return-url', `${stack.baseUrl}/embed/scribe`]);
  assistant = spawn(process.execPath, [join(TESTS_DIR, 'upstream', 'assistant.mjs'), '--port', String(ASSISTANT_PORT),
    '--cert', stack.tls.cert, '--key', stack.tls.key, '--host-origin', stack.baseUrl,
    '--jwks', stack.upstream.certsUrl, '--ca', stack.tls.caCert], { stdio: ['pipe', 'pipe', 'inherit'], cwd: TESTS_DIR });
  await new Promise((resolve, reject) => {
    assistant.stdout.once('data', (d) => (/"ready":true/.test(String(d)) ? resolve() : reject(new Error(String(d)))));
    assistant.once('exit', (code) => reject(new Error(`assistant.mjs exited ${code}`)));
  });
  browser = await launchBrowser();
  const context = await browser.newContext({ baseURL: stack.baseUrl, ignoreHTTPSErrors: true });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
});

after(async () => {
  if (browser) await browser.close();
  if (assistant) {
    assistant.kill('SIGTERM');
    await new Promise((r) => (assistant.exitCode !== null ? r() : assistant.once('exit', r)));
  }
});

const handedTo = async () => ({
  id: await page.getAttribute('#embed', 'data-user-id'),
  email: await page.getAttribute('#embed', 'data-user-email'),
  handoffs: Number(await page.getAttribute('#embed', 'data-handoffs') || 0),
});

test('a stranger at /embed/{app} logs in first, then the Assistant reports the user\'s id and email', async () => {
  await page.goto('/embed/scribe');
  assert.match(page.url(), new RegExp(`^https://127\\.0\\.0\\.1:${stack.upstreamPort}/`), `not at the login page: ${page.url()}`);
  await page.fill('#username', DANA[0]);
  await page.fill('#password', DANA[1]);
  const [resp] = await Promise.all([page.waitForResponse(`${stack.baseUrl}/embed/scribe`), page.click('#login')]);
  const csp = resp.headers()['content-security-policy'];
  assert.match(csp, new RegExp(`frame-src ${ASSISTANT.replace(/\./g, '\\.')};`));
  assert.doesNotMatch(csp, /unsafe-inline/);
  await page.waitForSelector('#embed[data-user-email]');
  const users = await stack.upstreamUsers();
  const dana = users.find((u) => u.username === 'dana');
  assert.deepEqual(await handedTo(), { id: dana.sub, email: dana.email, handoffs: 1 });
  const frame = page.frame({ url: `${ASSISTANT}/embedded` });
  assert.match(await frame.textContent('#who'), /Signed in as dana@example\.test/);
  assert.match(await page.textContent('#embed-status'), /Signed in to the Corti Assistant as dana@example\.test/);
  await shot(page, 'embed-01-signed-in');
  const seen = await control('GET', '/_control/log');
  assert.deepEqual(seen.map((x) => x.outcome), ['ok']);
});

test('a short token lifetime brings a fresh set to the Assistant before expiry; a restart keeps the user in', async () => {
  await stack.upstreamTtls({ ttl: 6 });
  await stack.killDaemon('SIGKILL');
  await stack.startDaemon();
  await page.reload();
  await page.waitForSelector('#embed[data-user-email]');
  await waitFor(async () => (await handedTo()).handoffs >= 2, { timeoutMs: 15000, what: 'a second handoff' });
  const seen = await control('GET', '/_control/log');
  assert.ok(seen.length >= 3 && seen.every((x) => x.outcome === 'ok'), JSON.stringify(seen));
  await stack.upstreamTtls({ ttl: 300 });
});

test('a message from another origin gets no answer and is ignored by the Assistant', async () => {
  await control('POST', '/_control/reset');
  const other = await page.context().newPage();
  await other.goto(`${stack.upstream.base}/_control/health`);
  const answered = await other.evaluate(async (src) => {
    const f = document.createElement('iframe');
    f.src = src;
    document.body.appendChild(f);
    await new Promise((r) => { f.onload = r; });
    let got = false;
    window.addEventListener('message', () => { got = true; });
    f.contentWindow.postMessage({ type: 'CORTI_EMBEDDED', version: 'v1', action: 'auth', requestId: 'x',
      payload: { access_token: 'a.b.c', refresh_token: 'r', id_token: 'a.b.c', token_type: 'Bearer' } }, '*');
    await new Promise((r) => { setTimeout(r, 1500); });
    return got;
  }, `${ASSISTANT}/embedded`);
  await other.close();
  assert.equal(answered, false, 'the Assistant answered a page of another origin');
  const seen = await control('GET', '/_control/log');
  assert.deepEqual(seen.map((x) => [x.origin, x.outcome]), [[stack.upstream.base, 'ignored']]);
});

test('an Assistant that refuses the handoff: the page says so plainly', async () => {
  await control('POST', '/_control/refuse');
  await page.reload();
  await page.waitForSelector('#embed-status.alert.error');
  assert.match(await page.textContent('#embed-status'), /refused the sign-in: UNAUTHORIZED/);
  await shot(page, 'embed-02-refused');
  await control('POST', '/_control/reset');
});

test('a session ended upstream stops at once: the page goes back to the login', async () => {
  await stack.upstreamRequest('POST', '/_control/users/dana/logout', {});
  await stack.killDaemon('SIGTERM');	// forget the set in memory: the next ask refreshes
  await stack.startDaemon();
  await page.goto('/embed/scribe');
  await page.waitForURL(new RegExp(`^https://127\\.0\\.0\\.1:${stack.upstreamPort}/`));
});
