// @corti/sdk in Chromium: the relay page (tests/browser/relay-page/, the SDK's own ESM build
// through an import map, served by the stack's nginx on flowgate's origin: relay-page.conf) opens
// CortiWebSocketProxyClient.transcribe.connect({ proxy: { url: <flowgate>/ws/demo/transcribe } })
// as a logged-in user: the session cookie is the credential, flowgate adds the upstream token,
// the stand-in answers config, audio, flush and end in Corti's shapes. Before the login the relay
// refuses the socket. No response and no WebSocket frame the page sees holds a token.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

import { test, before, after, useStack } from '../lib/runner.mjs';
import { launchBrowser, newPage, shot } from '../lib/browser.mjs';
import { TESTS_DIR } from '../lib/stack.mjs';

const DANA = ['dana', 'dana-password-1'];
// the page and the SDK served by the stack's nginx, as script/server serves them
const siteLocations = readFileSync(join(TESTS_DIR, 'browser', 'relay-page.conf'), 'utf8')
  .replaceAll('@PAGE_DIR@', join(TESTS_DIR, 'browser', 'relay-page'))
  .replaceAll('@SDK_DIR@', join(TESTS_DIR, 'node_modules', '@corti', 'sdk', 'dist', 'esm'));
const stack = useStack({
  cortiApi: true,
  oidcUsers: [DANA],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token'] },
  siteLocations,
});
const PREFIX = '/demo/relay/';
const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const JWT = /eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/;

let browser;
let page;
const frames = [];	// every WebSocket frame the page sent or received

before(async () => {
  await stack.ctl(['app', 'add', 'relay-ui', '--connection', 'demo', '--flow', 'authorization_code_pkce',
    '--kind', 'user_facing', '--scopes', 'transcribe streams', '--redirect-uri', `${stack.baseUrl}/callback`,
    '--return-url', `${stack.baseUrl}${PREFIX}`]);
  browser = await launchBrowser();
  page = await newPage(browser, stack, { ignoreHTTPSErrors: true });
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => frames.push({ dir: 'sent', url: ws.url(), payload: f.payload }));
    ws.on('framereceived', (f) => frames.push({ dir: 'received', url: ws.url(), payload: f.payload }));
  });
});

after(async () => {
  if (browser) await browser.close();
});

const pageState = () => page.evaluate(() => document.body.dataset.state);
const lines = () => page.$$eval('#log li', (els) => els.map((e) => `${e.className}: ${e.textContent}`));

test('before the login the page loads the SDK, and the relay refuses its socket', async () => {
  await page.goto(`${PREFIX}?app=relay-ui`);
  await page.waitForFunction(() => document.body.dataset.state === 'idle');
  await page.click('#start');
  await page.waitForFunction(() => ['refused', 'done', 'error'].includes(document.body.dataset.state));
  assert.equal(await pageState(), 'refused', (await lines()).join('\n'));
  await shot(page, 'sdk-relay-01-refused');
  // refused by the relay (401), not by the browser; the SDK's unhandled ErrorEvent goes with it
  assert.ok(page.problems.some((p) => /ws\/demo\/transcribe' failed: HTTP Authentication failed/.test(p)), page.problems.join('\n'));
  page.problems.length = 0;
}, { timeout: 30000 });

test('logged in, CortiWebSocketProxyClient streams through the relay and gets Corti\'s messages', async () => {
  await stack.cortiReset();
  await page.click('#login');
  await page.fill('#username', DANA[0]);
  await page.fill('#password', DANA[1]);
  await Promise.all([page.waitForURL(`${stack.baseUrl}${PREFIX}`), page.click('#login')]);
  await page.waitForFunction(() => document.body.dataset.state === 'idle');
  await page.click('#start');
  await page.waitForFunction(() => ['refused', 'done', 'error'].includes(document.body.dataset.state));
  const got = await lines();
  assert.equal(await pageState(), 'done', got.join('\n'));
  await shot(page, 'sdk-relay-02-done');
  assert.equal(got[0], 'config: CONFIG_ACCEPTED: the configuration went through');
  const transcripts = got.filter((l) => l.startsWith('transcript:'));
  // each chunk the page sent arrived whole and in order: the stand-in's transcript names its hash
  const chunks = frames.filter((f) => f.dir === 'sent' && typeof f.payload !== 'string').map((f) => f.payload);
  assert.equal(new Set(chunks.map(sha256)).size, 4);
  assert.deepEqual(transcripts, chunks.map((c, i) => `transcript: transcript: chunk ${i + 1}: 8000 bytes sha256 ${sha256(c)}`));
  assert.deepEqual(got.slice(5).map((l) => l.split(':')[0]), ['flushed', 'usage', 'ended']);
  // the page's configuration arrived, and all the audio
  const audio = Buffer.concat(chunks);
  const [session] = await stack.cortiRequest('GET', '/_control/ws');
  assert.deepEqual(session.configuration, { primaryLanguage: 'en' });
  assert.equal(session.bytes, 32000);
  assert.equal(session.sha256, sha256(audio));
  // the upstream got flowgate's token in its query; the page's socket had none
  const [up] = (await stack.cortiRequests()).filter((r) => r.path === '/audio-bridge/v2/transcribe');
  assert.equal(up.status, 101);
  assert.match(up.query.token, /^Bearer eyJ/);
  const sockets = [...new Set(frames.map((f) => f.url))];
  assert.ok(sockets.length > 0 && sockets.every((u) => u === `ws://127.0.0.1:${stack.nginxPort}/ws/demo/transcribe`), sockets.join(' '));
  const records = JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', '50'])).stdout).records;
  assert.ok(records.some((r) => r.event === 'relay.open' && r.app === 'relay-ui'), 'the relay opening is audited for the user\'s app');
}, { timeout: 60000 });

test('the page never sees a token: not in a response, not in a WebSocket frame', async () => {
  assert.ok(page.bodies.length > 100, `${page.bodies.length} responses (the SDK's modules among them)`);
  for (const b of page.bodies) {
    const text = `${JSON.stringify(b.headers)}\n${b.body.toString('latin1')}`;
    assert.ok(!JWT.test(text), `a token in the response of ${b.url}`);
  }
  for (const f of frames) assert.ok(!JWT.test(String(f.payload)), `a token in a ${f.dir} frame`);
  assert.ok(frames.some((f) => f.dir === 'received'));
  assert.deepEqual(page.problems, []);
  assert.deepEqual(page.dialogs, []);
});
