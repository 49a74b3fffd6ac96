// script/server supervises its parts: started on a free port with its own demo directory (no
// prompt, no bootstrap), it prints the app's credential and the admin and security passwords
// once; when the daemon is killed it says so, starts it again and tokens work again; Ctrl-C
// (SIGINT) stops every part and reaps every process it started: none is left, not even a zombie.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';

import { test, after } from '../lib/runner.mjs';
import { buildDir, descendantPids, REPO_DIR } from '../lib/stack.mjs';
import { freePort } from '../lib/ports.mjs';
import { sleep, waitFor, basicAuth } from '../lib/util.mjs';

const demo = mkdtempSync('/tmp/fg-ss-');
let server;
let out = '';
let port;
let exited;

after(async () => {
  if (server && server.exitCode === null && server.signalCode === null) {
    server.kill('SIGTERM');
    await Promise.race([exited, sleep(20000)]);
  }
  rmSync(demo, { recursive: true, force: true });
});

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
  port = await freePort();
  server = spawn('bash', [join(REPO_DIR, 'script/server'), '--port', String(port), '--no-bootstrap'], {
    cwd: REPO_DIR,
    env: { ...process.env, FLOWGATE_DEMO_DIR: demo, FLOWGATE_BUILD_DIR: buildDir() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  exited = new Promise((res) => server.on('exit', res));
  server.stdout.on('data', (d) => { out += d; });
  server.stderr.on('data', (d) => { out += d; });

  await printed(/serving until Ctrl-C/, 90000);
  const id = (await printed(/client_id:\s+(\S+)/))[1];
  const secret = (await printed(/client_secret:\s+(\S+)/))[1];
  const adminPw = (await printed(/user: admin\s+password \(shown only now\): (\S+)/))[1];
  const securityPw = (await printed(/user: security\s+password \(shown only now\): (\S+)/))[1];
  const daemon = Number((await printed(/server: flowgated: pid (\d+)/))[1]);
  assert.equal((await token(id, secret)).status, 200);
  assert.equal(await loginStatus('admin', adminPw), 303, 'the admin password printed works');
  assert.equal(await loginStatus('security', securityPw), 303, 'the security password printed works');

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
