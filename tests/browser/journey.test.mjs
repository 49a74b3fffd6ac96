// The admin's and the security officer's journey through the admin UI, in Chromium:
// log in, the wizard for every row of the decision table (and its fallback), register an app
// from the wizard, read its credential once, fetch a token with it, see the issuance in the
// audit log and on the dashboard, rotate the connection secret (wrong one refused, right one
// accepted), emergency stop and resume, log out. Every page is screenshotted
// (tests/output/screenshots/journey-*.png).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { test, before, after, useStack } from '../lib/runner.mjs';
import { REPO_DIR } from '../lib/stack.mjs';
import { launchBrowser, newPage, login, submit, shot, sessionCookie, PHONE } from '../lib/browser.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';
import { randomSecret, secretNeedles, findNeedles } from '../lib/util.mjs';

const execFileP = promisify(execFile);
const stack = useStack();
const policy = JSON.parse(readFileSync(join(REPO_DIR, 'schema', 'policy.json'), 'utf8'));
const label = (flow) => policy.flows[flow].label;
const PW = { alice: 'alice-correct-horse-1', sam: 'sam-battery-staple-22' };

let browser;
let admin;        // alice's page (admin)
let app;          // {name, client_id, client_secret} registered through the UI
let newSecret;    // the connection secret after rotation

before(async () => {
  await stack.addUser('alice', 'admin', PW.alice);
  await stack.addUser('sam', 'security', PW.sam);
  browser = await launchBrowser();
  admin = await newPage(browser, stack);
});

after(async () => {
  if (browser) await browser.close();
});

// The decision table of SPEC §2, written out here (not derived from the policy's own logic):
// the answers to give, the row the daemon's table must land on, the flow it recommends, and
// the questions asked on the way.
const CASES = [
  { row: 'backend_only', answers: ['no'], flow: 'client_credentials', asked: ['user_present'] },
  { row: 'embedded_assistant', answers: ['yes', 'yes', 'yes'], flow: 'authorization_code_pkce', asked: ['user_present', 'browser_client', 'assistant'] },
  { row: 'user_facing_browser', answers: ['yes', 'yes', 'no'], flow: 'authorization_code_pkce', asked: ['user_present', 'browser_client', 'assistant'] },
  { row: 'server_side_web', answers: ['yes', 'no', 'yes', 'yes'], flow: 'authorization_code', asked: ['user_present', 'browser_client', 'backend_secret', 'can_redirect'] },
  { row: 'internal_no_redirect', answers: ['yes', 'no', 'yes', 'no'], flow: 'ropc', asked: ['user_present', 'browser_client', 'backend_secret', 'can_redirect'] },
  { row: 'internal_no_redirect', answers: ['yes', 'no', 'no', 'no'], flow: 'ropc', asked: ['user_present', 'browser_client', 'backend_secret', 'can_redirect'] },
  { row: 'fallback', answers: ['yes', 'no', 'no', 'yes'], flow: 'authorization_code_pkce', asked: ['user_present', 'browser_client', 'backend_secret', 'can_redirect'] },
];

/** Click through the wizard; intermediate answers change the page in place (JS), the last loads the result. */
async function runWizard(page, answers, { js = true } = {}) {
  await page.goto('/admin/wizard');
  for (let i = 0; i < answers.length; i++) {
    const sel = answers[i] === 'yes' ? '#answer-yes' : '#answer-no';
    const last = i === answers.length - 1;
    if (last || !js) {
      await submit(page, sel);
    } else {
      await page.click(sel);
      await page.waitForFunction((n) => document.getElementById('wizard-step')?.textContent === String(n), i + 2);
    }
  }
}

/** What the picture highlights: the taken questions in order (top-down) and the taken leaf. */
async function highlighted(page) {
  return page.evaluate(() => {
    const svg = document.querySelector('#wizard-tree svg');
    const taken = [...svg.querySelectorAll('g.node[data-taken="true"]')];
    const byDepth = (g) => Number(g.querySelector('rect').getAttribute('y'));
    return {
      questions: taken.filter((g) => g.classList.contains('question')).sort((a, b) => byDepth(a) - byDepth(b)).map((g) => g.getAttribute('data-question')),
      leaves: taken.filter((g) => g.classList.contains('leaf')).map((g) => g.getAttribute('data-row')),
      edges: svg.querySelectorAll('path.edge[data-taken="true"]').length,
      answers: [...svg.querySelectorAll('path.edge[data-taken="true"]')].map((e) => e.getAttribute('data-answer')),
    };
  });
}

test('logging in leads to the dashboard', async () => {
  const first = await admin.goto('/admin/');
  assert.match(admin.url(), /\/admin\/login$/, 'an anonymous visit should land on the login page');
  assert.equal(first.status(), 200);
  await shot(admin, 'journey-01-login');
  const resp = await login(admin, 'alice', PW.alice);
  assert.equal(resp.status(), 200);
  assert.match(admin.url(), /\/admin\/$/);
  assert.equal(await admin.textContent('h1'), 'Dashboard');
  assert.match(await admin.textContent('.who'), /alice\s+admin/);
  await shot(admin, 'journey-02-dashboard-empty');
});

for (const c of CASES) {
  test(`wizard: ${c.answers.join(', ')} -> ${c.row} (${c.flow})`, async () => {
    await runWizard(admin, c.answers);
    const params = new URLSearchParams(new URL(admin.url()).search);
    assert.deepEqual([...params.keys()], c.asked, 'the result URL should carry exactly the questions asked');
    assert.equal(await admin.textContent('#recommended-flow'), label(c.flow));
    assert.equal(await admin.getAttribute('#wizard-result', 'data-row'), c.row);
    assert.equal(await admin.getAttribute('#wizard-result', 'data-flow'), c.flow);
    const h = await highlighted(admin);
    assert.deepEqual(h.questions, c.asked, 'highlighted questions');
    assert.deepEqual(h.leaves, [c.row], 'highlighted leaf');
    assert.deepEqual(h.answers, c.answers, 'highlighted edges, top-down');
    // the notes and warnings of the row are shown
    const row = c.row === 'fallback' ? policy.fallback : policy.rows.find((r) => r.id === c.row);
    const text = await admin.textContent('#wizard-result');
    for (const n of row.notes || []) assert.ok(text.includes(n), `note missing: ${n}`);
    for (const w of row.warnings || []) assert.ok(text.includes(w), `warning missing: ${w}`);
    if (c.row !== 'fallback') {
      assert.equal(await admin.getAttribute('#decision-table tr.taken', 'data-row'), c.row);
    }
    await shot(admin, `journey-03-wizard-${c.row}-${c.answers.join('-')}`);
    assert.deepEqual(admin.problems, [], 'no page errors or CSP violations');
  });
}

test('wizard works without JavaScript, with back and change links', async () => {
  const page = await newPage(browser, stack, { javaScriptEnabled: false });
  try {
    await login(page, 'alice', PW.alice);
    await runWizard(page, ['yes', 'no', 'yes'], { js: false });
    assert.equal(await page.textContent('#wizard-step'), '4');
    assert.match(await page.textContent('#wizard-question'), /redirect/);
    await shot(page, 'journey-04-wizard-nojs-step4');
    await submit(page, '#wizard-back');
    assert.equal(await page.textContent('#wizard-step'), '3');
    await submit(page, '#answer-no');
    await submit(page, '#answer-no');
    assert.equal(await page.getAttribute('#wizard-result', 'data-row'), 'internal_no_redirect');
    const h = await highlighted(page);
    assert.deepEqual(h.questions, ['user_present', 'browser_client', 'backend_secret', 'can_redirect']);
    assert.deepEqual(h.answers, ['yes', 'no', 'no', 'no']);
  } finally {
    await page.context().close();
  }
});

test('wizard keeps its place on reload and with the browser back button (JS)', async () => {
  await admin.goto('/admin/wizard');
  await admin.click('#answer-yes');
  await admin.waitForFunction(() => document.getElementById('wizard-step').textContent === '2');
  await admin.click('#answer-no');
  await admin.waitForFunction(() => document.getElementById('wizard-step').textContent === '3');
  assert.match(admin.url(), /user_present=yes&browser_client=no$/);
  assert.deepEqual((await highlighted(admin)).questions, ['user_present', 'browser_client', 'backend_secret']);
  await admin.goBack();
  await admin.waitForFunction(() => document.getElementById('wizard-step').textContent === '2');
  await admin.reload();
  assert.equal(await admin.textContent('#wizard-step'), '2');
  assert.match(await admin.textContent('#wizard-question'), /browser/);
});

test('register an app from the wizard; its credential is shown exactly once', async () => {
  await runWizard(admin, ['no']);
  await submit(admin, '#register-from-wizard');
  assert.match(admin.url(), /\/admin\/apps\/new\?flow=client_credentials&kind=backend/);
  assert.equal(await admin.inputValue('#flow'), 'client_credentials');
  assert.equal(await admin.isChecked('#kind_backend'), true);
  assert.equal(await admin.isChecked('#scope_transcribe'), true);
  assert.equal(await admin.isChecked('#scope_streams'), true);
  assert.ok((await admin.textContent('#from-wizard')).includes('Backend-only system integration'));
  await admin.fill('#name', 'journey-app');
  await shot(admin, 'journey-05-app-form-from-wizard');
  const resp = await submit(admin, '#register');
  assert.equal(resp.status(), 201);
  assert.equal(resp.headers()['cache-control'], 'no-store');
  app = {
    name: 'journey-app',
    client_id: (await admin.textContent('#client-id')).trim(),
    client_secret: (await admin.textContent('#client-secret')).trim(),
  };
  assert.match(app.client_id, /\S{8,}/);
  assert.ok(app.client_secret.length >= 20, 'a long random secret');
  // the command keeps the secret out of argv (ps) and shell history: curl reads it on stdin
  const curl = (await admin.textContent('#curl')).trim();
  assert.equal(curl, `curl -K - http://127.0.0.1:${stack.nginxPort}/oauth2/token`);
  assert.ok(!curl.includes(app.client_secret), 'the command line holds no secret');
  const curlConfig = (await admin.textContent('#curl-config')).trim();
  assert.equal(curlConfig, `user = "${app.client_id}:${app.client_secret}"\n` +
    'data = "grant_type=client_credentials"\ndata = "scope=streams"');
  assert.equal(await admin.isVisible('button[data-copy="client-secret"]'), true, 'copy button (JS)');
  await admin.click('button[data-copy="curl"]');
  assert.equal(await admin.evaluate(() => navigator.clipboard.readText()), curl, 'the copy button copies the curl command');
  await shot(admin, 'journey-06-app-credential-once');
  app.curl = curl;
  app.curlConfig = curlConfig;

  // once: a reload (the browser re-sends the form) and every other page never show it again
  const needles = secretNeedles(app.client_secret);
  await admin.reload();
  assert.deepEqual(findNeedles(Buffer.from(await admin.content()), needles), [], 'the reload showed the secret again');
  await shot(admin, 'journey-07-app-credential-reload');
  for (const p of ['/admin/apps', '/admin/apps/journey-app', '/admin/', '/admin/audit']) {
    await admin.goto(p);
    assert.deepEqual(findNeedles(Buffer.from(await admin.content()), needles), [], `${p} shows the app secret`);
  }
  await admin.goto('/admin/apps');
  assert.equal(await admin.textContent('tr[data-app="journey-app"] td:nth-child(2)'), 'client_credentials');
  await shot(admin, 'journey-08-apps-list');
});

test('the credential fetches a token through /oauth2/token (node http and the curl shown)', async () => {
  const t = assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);
  assert.ok(t.access_token);
  // the very command the page showed, run with curl (split on spaces: it has no quoting),
  // the lines shown on its standard input
  const argv = app.curl.split(' ');
  assert.equal(argv[0], 'curl');
  const run = execFileP('curl', ['-s', ...argv.slice(1)], { timeout: 15000 });
  run.child.stdin.end(app.curlConfig + '\n');
  const { stdout } = await run;
  const body = JSON.parse(stdout);
  assert.equal(body.token_type.toLowerCase(), 'bearer');
  assert.equal(body.scope, 'openid streams');
});

test('the issuance shows in the audit log and on the dashboard', async () => {
  await admin.goto('/admin/audit?app=journey-app');
  const rows = await admin.$$eval('#audit-table tbody tr[data-seq]', (trs) => trs.map((tr) => ({
    event: tr.getAttribute('data-event'), outcome: tr.getAttribute('data-outcome'), text: tr.textContent,
  })));
  assert.ok(rows.some((r) => r.event === 'token.issue' && r.outcome === 'issued'), `no issuance record: ${JSON.stringify(rows)}`);
  assert.equal(await admin.getAttribute('#chain-status', 'data-chain'), 'ok');
  await shot(admin, 'journey-09-audit-filtered');
  await admin.goto('/admin/audit');
  await submit(admin, '#verify-now');
  assert.equal(await admin.getAttribute('#chain-status', 'data-chain'), 'ok');
  assert.match(await admin.textContent('#chain-status'), /checked just now/);
  await shot(admin, 'journey-10-audit');
  // the export: JSON lines, newest first, every line an audit record
  const exp = await admin.request.get('/admin/audit/export?app=journey-app');
  assert.equal(exp.status(), 200);
  assert.match(exp.headers()['content-disposition'], /attachment/);
  const lines = (await exp.text()).trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.length >= 2 && lines.every((l) => l.app === 'journey-app' && Number.isInteger(l.seq)));

  await admin.goto('/admin/');
  const total = await admin.textContent('#issuance [data-app-total="journey-app"]');
  assert.ok(Number(total) >= 2, `dashboard total for journey-app: ${total}`);
  assert.ok(await admin.$('#issuance svg.hours-chart rect.bar'), 'the chart has bars');
  await shot(admin, 'journey-11-dashboard');
  const phone = await newPage(browser, stack, { viewport: PHONE });
  try {
    await login(phone, 'alice', PW.alice);
    await shot(phone, 'journey-12-dashboard-phone');
    await phone.goto('/admin/wizard?user_present=yes&browser_client=no');
    await shot(phone, 'journey-13-wizard-phone');
    const box = await phone.evaluate(() => {
      const b = document.getElementById('wizard-tree').getBoundingClientRect();
      const t = document.querySelector('#wizard-tree g.node.current').getBoundingClientRect();
      return { left: b.left, right: b.right, center: t.left + t.width / 2 };
    });
    assert.ok(box.center > box.left && box.center < box.right, 'on a phone the current question is scrolled into view');
    await phone.goto('/admin/apps');
    await shot(phone, 'journey-14-apps-phone');
    await phone.goto('/admin/audit');
    await shot(phone, 'journey-14-audit-phone');
    await phone.goto('/admin/connections');
    await shot(phone, 'journey-14-connections-phone');
    await phone.goto('/admin/apps/new');
    await shot(phone, 'journey-14-app-form-phone');
  } finally {
    await phone.context().close();
  }
});

test('other pages render: app detail, connections, users, account', async () => {
  for (const [p, name] of [['/admin/apps/journey-app', 'app-detail'], ['/admin/connections', 'connections'],
    ['/admin/connections/new', 'connection-new'], ['/admin/users', 'users'], ['/admin/account', 'account'],
    ['/admin/rotation', 'rotation-list']]) {
    const r = await admin.goto(p);
    assert.equal(r.status(), 200, p);
    await shot(admin, `journey-15-${name}`);
  }
  await admin.goto('/admin/connections/demo');
  const r = await submit(admin, '#test-connection');
  assert.equal(r.status(), 200);
  assert.match(await admin.textContent('#test-result'), /Test passed/);
  await shot(admin, 'journey-16-connection-tested');
  assert.deepEqual(admin.problems, []);
});

test('security rotates the connection secret: a wrong one is refused, the right one accepted', async () => {
  const sec = await newPage(browser, stack);
  try {
    await login(sec, 'sam', PW.sam);
    await sec.goto('/admin/rotation/demo');
    const version = Number(await sec.textContent('#secret-version'));
    await sec.fill('#secret', randomSecret('FGWRONG'));
    const bad = await submit(sec, '#rotate');
    assert.equal(bad.status(), 422);
    assert.match(await sec.textContent('#form-error'), /refused/i);
    assert.match(await sec.textContent('#err-secret'), /Refused by the upstream/);
    assert.equal(await sec.inputValue('#secret'), '', 'the refused secret is not echoed back');
    assert.equal(Number(await sec.textContent('#secret-version')), version, 'the version did not change');
    await shot(sec, 'journey-17-rotation-refused');
    // the old secret still works
    assertToken(await stack.token(app, 'transcribe'), ['openid', 'transcribe']);

    newSecret = randomSecret('FGROTATED');
    await stack.upstreamSetSecret(newSecret);
    await sec.fill('#secret', newSecret);
    const ok = await submit(sec, '#rotate');
    assert.equal(ok.status(), 200);
    assert.match(await sec.textContent('#flash'), /verified with the upstream and is now current/);
    assert.equal(Number(await sec.textContent('#secret-version')), version + 1);
    assert.match(await sec.textContent('#previous'), /kept until/);
    await shot(sec, 'journey-18-rotation-done');
    // a cold scope set goes upstream with the new secret
    assertToken(await stack.token(app, 'transcribe streams'), ['openid', 'streams', 'transcribe']);
    // retire the previous secret now
    await submit(sec, '#retire');
    assert.match(await sec.textContent('#flash'), /previous secret was erased/);
    assert.equal((await sec.textContent('#previous')).trim(), 'none');
    for (const b of sec.bodies) {
      assert.deepEqual(findNeedles(b.body, secretNeedles(newSecret)), [], `${b.url} echoes the new secret`);
    }
  } finally {
    await sec.context().close();
  }
});

test('emergency stop: token requests get 503 temporarily_unavailable until resumed', async () => {
  const sec = await newPage(browser, stack);
  try {
    await login(sec, 'sam', PW.sam);
    assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);	// one cached token
    await sec.goto('/admin/rotation/demo');
    await submit(sec, '#emergency-stop');
    assert.match(await sec.textContent('#flash'), /Emergency stop/);
    // the page says what the stop stopped: the app's cached token was dropped
    assert.match(await sec.textContent('#flash'), /Stopped now: [1-9]\d* cached tokens dropped/);
    assert.ok(await sec.isVisible('#stopped-badge'));
    await shot(sec, 'journey-19-emergency-stopped');
    const r = await stack.token(app, 'streams');
    assert.equal(r.status, 503, r.body);
    assert.equal(r.json.error, 'temporarily_unavailable');
    assert.ok(r.headers['retry-after'], 'Retry-After');
    await submit(sec, '#resume');
    assert.match(await sec.textContent('#flash'), /resumed/);
    assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);
    await shot(sec, 'journey-20-resumed');
  } finally {
    await sec.context().close();
  }
});

test('log out ends the session on the server too', async () => {
  const cookie = await sessionCookie(admin);
  assert.ok(cookie);
  await submit(admin, '#logout');
  assert.match(admin.url(), /\/admin\/login\?done=logged_out$/);
  assert.match(await admin.textContent('#flash'), /logged out/);
  await shot(admin, 'journey-21-logged-out');
  assert.equal(await sessionCookie(admin), null, 'the cookie is cleared');
  // the old cookie, replayed by hand, no longer opens anything
  const r = await stack.http('GET', '/admin/', { headers: { cookie } });
  assert.equal(r.status, 303);
  assert.match(r.headers.location, /^\/admin\/login/);
  assert.deepEqual(admin.dialogs, []);
  assert.deepEqual(admin.problems, [], 'no page errors or CSP violations during the journey');
});

test('no page or response of the journey contained the connection secret', async () => {
  const needles = [...secretNeedles(stack.connectionSecret), ...(newSecret ? secretNeedles(newSecret) : [])];
  assert.ok(admin.bodies.length > 20, `only ${admin.bodies.length} responses recorded`);
  for (const b of admin.bodies) {
    assert.deepEqual(findNeedles(b.body, needles), [], `${b.url} contains a connection secret`);
  }
});
