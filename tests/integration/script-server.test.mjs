// script/server supervises its parts: started on a free port with its own demo directory (no
// prompt, no bootstrap), it prints the app's credential and the admin and security passwords
// once; when the daemon is killed it says so, starts it again and tokens work again; Ctrl-C
// (SIGINT) stops every part and reaps every process it started: none is left, not even a zombie.
// Every try-it line of its greeting is run as printed and works: token, stream session, proxy
// call, recording upload, SSE answer (curl -K with the 0600 credential file: no secret in an
// argument), and the relay page, opened in Chromium as the demo user.
// With --nodes 3 it runs three daemons on one PostgreSQL behind one nginx upstream group: the
// token line is answered by all three, still answered when one daemon is killed, and SIGTERM
// stops every part, PostgreSQL included.
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { test, after } from '../lib/runner.mjs';
import { binaries, buildDir, descendantPids, REPO_DIR } from '../lib/stack.mjs';
import { freePort } from '../lib/ports.mjs';
import { sleep, waitFor, basicAuth } from '../lib/util.mjs';
import { launchBrowser } from '../lib/browser.mjs';

const demo = mkdtempSync('/tmp/fg-ss-');
const demos = [demo];
let server;
let out = '';
let port;
let exited;

after(async () => {
  if (server && server.exitCode === null && server.signalCode === null) {
    server.kill('SIGTERM');
    await Promise.race([exited, sleep(20000)]);
  }
  for (const d of demos) rmSync(d, { recursive: true, force: true });
});

/** Start script/server with args on a free port, its demo instance in dir; output into out. */
async function serve(dir, args) {
  port = await freePort();
  out = '';
  server = spawn('bash', [join(REPO_DIR, 'script/server'), '--port', String(port), '--no-bootstrap', ...args], {
    cwd: REPO_DIR,
    env: { ...process.env, FLOWGATE_DEMO_DIR: dir, FLOWGATE_BUILD_DIR: buildDir() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  exited = new Promise((res) => server.on('exit', res));
  server.stdout.on('data', (d) => { out += d; });
  server.stderr.on('data', (d) => { out += d; });
}

/** Whether pid still has an entry in /proc (running, or a zombie nobody reaped). */
const present = (pid) => existsSync(`/proc/${pid}`);

/** Wait until the script's output matches re; returns the match. */
async function printed(re, timeoutMs = 60000) {
  let m = null;
  await waitFor(() => (m = re.exec(out)) !== null || server.exitCode !== null, { timeoutMs, what: `output ${re}` });
  assert.ok(m, `script/server exited (${server.exitCode}) before printing ${re}:\n${out}`);
  return m;
}

async function token(id, secret) {
  const r = await fetch(`http://127.0.0.1:${port}/oauth2/token`, {
    method: 'POST',
    headers: { authorization: basicAuth(id, secret), 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&scope=streams',
  });
  return { status: r.status, body: await r.text() };
}

async function loginStatus(user, password) {
  const r = await fetch(`http://127.0.0.1:${port}/admin/login`, {
    method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ user, password }).toString(),
  });
  return r.status;
}

test('script/server restarts a killed daemon, says so, and leaves nothing behind on Ctrl-C', async () => {
  await serve(demo, []);
  await printed(/serving until Ctrl-C/, 90000);
  const id = (await printed(/client_id:\s+(\S+)/))[1];
  const secret = (await printed(/client_secret:\s+(\S+)/))[1];
  const adminPw = (await printed(/user: admin\s+password \(shown only now\): (\S+)/))[1];
  const securityPw = (await printed(/user: security\s+password \(shown only now\): (\S+)/))[1];
  const daemon = Number((await printed(/server: flowgated: pid (\d+)/))[1]);
  assert.equal((await token(id, secret)).status, 200);
  assert.equal(await loginStatus('admin', adminPw), 303, 'the admin password printed works');
  assert.equal(await loginStatus('security', securityPw), 303, 'the security password printed works');
  await tryItLines(secret);

  process.kill(daemon, 'SIGKILL');
  const m = await printed(/restarted flowgated \(pid (\d+)\)/, 20000);
  const again = Number(m[1]);
  assert.notEqual(again, daemon);
  assert.match(out, new RegExp(`flowgated \\(pid ${daemon}\\) exited with status \\d+ after \\d+s; restarting it in 1s`));
  let t;
  await waitFor(async () => (t = await token(id, secret)).status === 200, { timeoutMs: 15000, what: 'a token after the restart' });
  assert.equal(t.status, 200, t.body);
  assert.ok(!present(daemon), `the killed daemon ${daemon} was reaped`);

  const procs = descendantPids(server.pid);
  assert.ok(procs.includes(again), `the new daemon ${again} is the script's: ${procs}`);
  assert.ok(procs.length >= 5, `oidc server, daemon, fcgi master and workers, nginx: ${procs}`);
  server.kill('SIGINT');
  const code = await Promise.race([exited, sleep(30000).then(() => 'timeout')]);
  assert.notEqual(code, 'timeout', `script/server did not stop on SIGINT:\n${out.slice(-2000)}`);
  assert.match(out, /stopped flowgated/);
  await sleep(300);
  const left = procs.filter(present);
  assert.deepEqual(left, [], `processes left behind (running or unreaped): ${left}`);
}, { timeout: 180000 });

test('script/server --nodes 3: three daemons on one PostgreSQL answer through one nginx, survive a kill -9, and stop', async () => {
  const dir = mkdtempSync('/tmp/fg-ss-');
  demos.push(dir);
  const t0 = Date.now();
  await serve(dir, ['--nodes', '3']);
  await printed(/serving until Ctrl-C/, 120000);
  process.stdout.write(`# script/server --nodes 3: serving after ${Date.now() - t0} ms (fresh demo dir)\n`);
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.equal(health.status, 200);
  assert.equal((await health.json()).database, 'ok');
  assert.match(out, /3 flowgated nodes on one PostgreSQL/);
  const nodes = [1, 2, 3].map((k) => {
    const m = new RegExp(`node ${k}: +flowgated pid (\\d+), config (\\S+)`).exec(out);
    assert.ok(m, `no line for node ${k}:\n${out}`);
    return { pid: Number(m[1]), config: m[2] };
  });
  assert.equal(Number(/Failover: kill -9 (\d+)/.exec(out)?.[1]), nodes[1].pid, 'the failover line names node 2');
  const issued = async () => Promise.all(nodes.map(async (n) => {
    const { stdout } = await promisify(execFile)(binaries().flowgatectl, ['-c', n.config, '--json', 'status']);
    return JSON.parse(stdout).stats.tokens_issued;
  }));

  // the printed token line, ~30 times: nginx spreads them over the three pools
  const line = tryLine('token');
  assert.ok(line.includes(`-K ${join(dir, 'nodes', 'try', 'backend.curlrc')} `), line);
  const before = await issued();
  for (let i = 0; i < 30; i++) assert.equal(JSON.parse(await run(line)).token_type, 'Bearer');
  const during = await issued();
  nodes.forEach((n, k) => assert.ok(during[k] > before[k], `node ${k + 1} served no token: ${before} -> ${during}`));

  // node 2's daemon killed (nothing in flight): nginx asks the other pools, every token still comes
  process.kill(nodes[1].pid, 'SIGKILL');
  for (let i = 0; i < 10; i++) assert.equal(JSON.parse(await run(line)).token_type, 'Bearer', `token ${i} after the kill`);
  await printed(/restarted flowgated-2 \(pid \d+\)/, 20000);
  const verify = await promisify(execFile)(binaries().flowgatectl, ['-c', nodes[0].config, 'audit', 'verify']);
  assert.match(verify.stdout, /audit chain ok/, 'one audit chain across the nodes verifies');

  const pg = Number((await printed(/server: postgres: pid (\d+)/))[1]);
  const procs = descendantPids(server.pid);
  assert.ok(procs.includes(pg) && nodes.every((n, k) => k === 1 || procs.includes(n.pid)), `postgres and the daemons are the script's: ${procs}`);
  server.kill('SIGTERM');
  const code = await Promise.race([exited, sleep(60000).then(() => 'timeout')]);
  assert.notEqual(code, 'timeout', `script/server did not stop on SIGTERM:\n${out.slice(-2000)}`);
  assert.match(out, /stopped postgres/);
  await sleep(300);
  const left = procs.filter(present);
  assert.deepEqual(left, [], `processes left behind (running or unreaped): ${left}`);
  const { stdout: ps } = await promisify(execFile)('ps', ['-eo', 'pid=,args=']);
  assert.deepEqual(ps.split('\n').filter((l) => l.includes(dir)), [], 'no process names the demo dir');
}, { timeout: 240000 });

/** The greeting's try-it line called name, as printed. */
function tryLine(name) {
  const m = new RegExp(`^ {4}${name}: +(.+)$`, 'm').exec(out);
  assert.ok(m, `no try-it line "${name}" in:\n${out}`);
  return m[1];
}

/** Run a printed command line as the shell would; its stdout. */
async function run(line) {
  const { stdout } = await promisify(execFile)('bash', ['-c', line], { timeout: 30000, maxBuffer: 1 << 20 });
  return stdout;
}

/** Every try-it line works; none has the secret in it; the credential file is root's alone. */
async function tryItLines(secret) {
  const names = ['token', 'stream session', 'proxy call', 'recording', 'SSE answer', 'relay page'];
  const lines = Object.fromEntries(names.map((n) => [n, tryLine(n)]));
  for (const [n, l] of Object.entries(lines)) assert.ok(!l.includes(secret), `the secret is in the ${n} line`);
  const rc = join(demo, 'try', 'backend.curlrc');
  assert.ok(lines.token.includes(`-K ${rc} `));
  assert.equal(statSync(rc).mode & 0o777, 0o600);

  const token = JSON.parse(await run(lines.token));
  assert.equal(token.token_type, 'Bearer', JSON.stringify(token));
  const session = JSON.parse(await run(lines['stream session']));
  assert.ok(session.interactionId && session.access_token && /\/streams\?/.test(session.websocketUrl), JSON.stringify(Object.keys(session)));
  const list = JSON.parse(await run(lines['proxy call']));
  assert.ok(list.interactions?.some((i) => i.id === session.interactionId), JSON.stringify(list));
  const rec = JSON.parse(await run(lines.recording));
  assert.equal(rec.bytes, 3000000, JSON.stringify(rec));
  assert.match(rec.sha256, /^[0-9a-f]{64}$/);
  const sse = (await run(lines['SSE answer'])).split('\n').filter((l) => l.startsWith('data: ')).map((l) => JSON.parse(l.slice(6)));
  assert.deepEqual(sse.map((e) => e.seq), [0, 1, 2, 3, 4]);
  assert.equal(sse[4].last, true);

  // the relay page, in Chromium, as its line says: log in as demo, send the test recording
  const [, url, password] = /^(http:\S+) in a browser; log in as demo \(password (\S+)\)$/.exec(lines['relay page']);
  const browser = await launchBrowser();
  try {
    const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
    page.setDefaultTimeout(20000);
    await page.goto(url);
    await page.click('#login');
    await page.fill('#username', 'demo');
    await page.fill('#password', password);
    await Promise.all([page.waitForURL(url), page.click('#login')]);
    await page.waitForFunction(() => document.body.dataset.state === 'idle');
    await page.click('#start');
    await page.waitForFunction(() => ['refused', 'done', 'error'].includes(document.body.dataset.state));
    const got = await page.$$eval('#log li', (els) => els.map((e) => e.textContent));
    assert.equal(await page.evaluate(() => document.body.dataset.state), 'done', got.join('\n'));
    assert.equal(got.filter((l) => /^transcript: chunk \d: 8000 bytes sha256 [0-9a-f]{64}$/.test(l)).length, 4, got.join('\n'));
  } finally {
    await browser.close();
  }
}
