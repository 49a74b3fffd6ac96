// Issue 11, the master key: `flowgatectl key rotate` re-seals every connection secret and every
// user session's refresh token under a new key, online, in one transaction.  The daemon is
// killed (SIGKILL) at each named step inside a rotation (gdb stops it in keyrotate_step, then
// `kill -9`: new key read; secrets re-sealed; all re-sealed and the key recorded, uncommitted;
// committed) and in each state of the key files flowgatectl passes through (new key written;
// committed, nothing renamed; key_file linked to .old, .next not renamed); after each restart the connection secret must still open (a cold token
// through nginx -> fcgi -> daemon -> the upstream), the user's sealed refresh token must still
// open (their Assistant gets its tokens), the app credential and the audit chain (keyed hashes)
// must still check.  A wrong key is refused at start with a clear message; `key retire` refuses
// while the old key is needed.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, renameSync, unlinkSync, readFileSync } from 'node:fs';
import { test, useStack } from '../lib/runner.mjs';
import { DAEMON_USER } from '../lib/stack.mjs';
import { sleep } from '../lib/util.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';
import { userLogin } from '../lib/oidc-login.mjs';
import { FrameConn, encodeFrame } from '../lib/frame.mjs';

const DANA = ['dana', 'dana-password-1'];
const stack = useStack({
  oidcUsers: [DANA],
  upstreamClient: { grants: ['client_credentials', 'authorization_code', 'refresh_token'] },
});
const s = {};
const key = () => stack.paths.keyFile;
const xhr = (cookie) => ({ headers: { cookie, 'x-requested-with': 'fetch' } });

async function status() {
  return (await stack.ctl(['key', 'status'], { json: true })).json;
}

/** Which of key_file's names holds the key in use. */
async function inUse() {
  const st = await status();
  return Object.keys(st.files).filter((n) => st.files[n].in_use);
}

/** Everything sealed or keyed by the master key still works, through the real stack. */
async function assertAllOpen(what) {
  // a fresh daemon has no cached token: this one needs the sealed connection secret
  assertToken(await stack.token(s.app, 'transcribe streams'), ['openid', 'streams', 'transcribe']);
  const c = await stack.http('POST', '/api/v1/session/assistant-credentials', xhr(s.cookie));
  assert.equal(c.status, 200, `${what}: the user's sealed refresh token did not open: ${c.body}`);
  assert.ok(c.json.access_token && c.json.refresh_token, what);
  const v = await stack.ctl(['audit', 'verify']);
  assert.match(v.stdout, /audit chain ok/, `${what}: ${v.stdout}${v.stderr}`);
}

/**
 * Stop the daemon at keyrotate_step(point) under gdb, then `kill -9` it there.  Signals the
 * daemon gets meanwhile pass through; gdb's output is unbuffered so its breakpoint is seen.
 */
async function armCrash(point) {
  const pid = stack.daemonPid;
  const gdb = spawn('stdbuf', ['-o0', '-e0', 'gdb', '-q', '-nx', '-batch', '-p', String(pid),
    '-ex', 'set pagination off', '-ex', 'handle all nostop noprint pass',
    '-ex', `break keyrotate_step if p == ${point}`, '-ex', 'continue',
    '-ex', `shell kill -9 ${pid}`, '-ex', 'quit'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  gdb.stdout.on('data', (d) => { out += d; });
  gdb.stderr.on('data', (d) => { out += d; });
  const done = new Promise((r) => gdb.once('exit', () => r(out)));
  for (let i = 0; i < 300 && !/Breakpoint 1 at/.test(out); i++) await sleep(100);
  assert.match(out, /Breakpoint 1 at/, `gdb did not set its breakpoint:\n${out}`);
  await sleep(1000);	// gdb has let the daemon run on
  return { done };	// wrapped: an async function returning a promise would wait for it
}

test('setup: a backend app with a token, a user session with a sealed refresh token', async () => {
  s.app = await stack.addApp('svc', { scopes: 'transcribe streams' });
  assertToken(await stack.token(s.app, 'transcribe'));
  await stack.ctl(['app', 'add', 'embed', '--connection', 'demo', '--flow', 'authorization_code_pkce',
    '--kind', 'assistant', '--scopes', 'transcribe streams', '--redirect-uri', `${stack.baseUrl}/callback`,
    '--return-url', `${stack.baseUrl}/healthz`]);
  s.cookie = await userLogin(stack, 'embed', ...DANA);
  s.first = (await status()).key_id;
  assert.match(s.first, /^k1:[0-9a-f]{32}$/);
  assert.deepEqual(await inUse(), ['key_file']);
  await assertAllOpen('before any rotation');
});

test('a database from before key ids: key_file is recorded only if it opens what is sealed', async () => {
  await stack.killDaemon('SIGTERM');
  if (stack.pg) stack.sql('DELETE FROM master_key');
  else {	// as the daemon's user, so the file and its -wal stay the daemon's
    execFileSync('setpriv', [`--reuid=${DAEMON_USER}`, `--regid=${DAEMON_USER}`, '--init-groups',
      'sqlite3', stack.paths.database, 'DELETE FROM master_key']);
  }
  renameSync(key(), `${key()}.saved`);
  await stack.ctl(['key', 'new', key()]);
  execFileSync('chown', [`${DAEMON_USER}:${DAEMON_USER}`, key()]);
  await assert.rejects(stack.startDaemon(), /does not open the secrets sealed in the database/);
  unlinkSync(key());
  renameSync(`${key()}.saved`, key());
  await stack.startDaemon();
  assert.equal((await status()).key_id, s.first);
  await assertAllOpen('the right key adopted');
});

for (const point of ['KEYROTATE_READ', 'KEYROTATE_SECRETS', 'KEYROTATE_RECORDED']) {
  test(`killed (SIGKILL) at ${point}, inside the rotation: restarted, the old key opens everything`, async () => {
    const gdb = await armCrash(point);
    const r = await stack.ctl(['key', 'rotate'], { expect: null, timeoutMs: 60000 });
    const out = await gdb.done;
    assert.match(out, /hit Breakpoint 1, keyrotate_step \(p=/, `gdb never stopped the daemon:\n${out}`);
    assert.match(r.stderr, /no answer from the daemon/, 'flowgatectl reported a rotation the daemon died in');
    await stack.procs.daemon.exited;
    await stack.startDaemon();
    assert.deepEqual(await inUse(), ['key_file']);
    assert.equal((await status()).key_id, s.first);
    assert.ok(existsSync(`${key()}.next`));
    await assertAllOpen(`after a crash at ${point}`);
  }, { timeout: 120000 });
}

test('killed (SIGKILL) at KEYROTATE_COMMITTED: restarted with the new key from key_file.next', async () => {
  const gdb = await armCrash('KEYROTATE_COMMITTED');
  const r = await stack.ctl(['key', 'rotate'], { expect: null, timeoutMs: 60000 });
  const out = await gdb.done;
  assert.match(out, /hit Breakpoint 1, keyrotate_step \(p=(p@entry=)?KEYROTATE_COMMITTED/, out);
  assert.notEqual(r.code, 0);
  await stack.procs.daemon.exited;
  await stack.startDaemon();
  assert.deepEqual(await inUse(), ['next']);
  assert.notEqual((await status()).key_id, s.first);
  await assertAllOpen('after a crash at KEYROTATE_COMMITTED');
  const fin = await stack.ctl(['key', 'rotate']);
  assert.match(fin.stdout, /finishing it/);
  await stack.ctl(['key', 'retire']);
  s.first = (await status()).key_id;
}, { timeout: 120000 });

test('killed (SIGKILL) after the new key is written, before the transaction: the old key serves', async () => {
  await stack.ctl(['key', 'new', `${key()}.next`]);
  execFileSync('chown', [`${DAEMON_USER}:${DAEMON_USER}`, `${key()}.next`]);
  await stack.killDaemon('SIGKILL');
  await stack.startDaemon();
  assert.deepEqual(await inUse(), ['key_file']);
  assert.equal((await status()).key_id, s.first);
  await assertAllOpen('new key written, nothing re-sealed');
});

test('a rotation after that crash reuses the new key; the daemon kept serving', async () => {
  const next = (await status()).files.next.key_id;
  const r = await stack.ctl(['key', 'rotate']);
  assert.match(r.stdout, /master key rotated .* 1 connection secrets and 1 user sessions re-sealed/);
  assert.equal((await status()).key_id, next);
  assert.deepEqual(await inUse(), ['key_file']);
  assert.equal((await status()).files.old.key_id, s.first);
  await assertAllOpen('after a rotation, without restart');
  await stack.killDaemon('SIGKILL');
  await stack.startDaemon();
  await assertAllOpen('after a rotation and a restart');
  s.second = next;
});

test('killed after the commit, before any rename (the files as the commit left them)', async () => {
  // put the files back as they were when the daemon committed: key_file old, .next new
  renameSync(key(), `${key()}.next`);
  renameSync(`${key()}.old`, key());
  await stack.killDaemon('SIGKILL');
  await stack.startDaemon();
  assert.deepEqual(await inUse(), ['next']);
  assert.equal((await status()).key_id, s.second);
  await assertAllOpen('committed, not renamed');
  const r = await stack.ctl(['key', 'retire'], { expect: null });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /finish the rotation first/);
});

test('key rotate finishes an interrupted rotation', async () => {
  const done = await stack.ctl(['key', 'rotate']);
  assert.match(done.stdout, /finishing it/);
  assert.deepEqual(await inUse(), ['key_file']);
  assert.ok(existsSync(`${key()}.old`) && !existsSync(`${key()}.next`));
  await stack.killDaemon('SIGKILL');
  await stack.startDaemon();
  await assertAllOpen('after finishing');
});

test('a second rotation is refused until the old key is retired; then it goes through', async () => {
  const r = await stack.ctl(['key', 'rotate'], { expect: null });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /retire it first/);
  await stack.ctl(['key', 'retire']);
  assert.ok(!existsSync(`${key()}.old`));
  const before = (await status()).key_id;
  const ok = await stack.ctl(['key', 'rotate']);
  assert.match(ok.stdout, /master key rotated .* 1 connection secrets and 1 user sessions re-sealed/);
  assert.notEqual((await status()).key_id, before);
  await assertAllOpen('after a rotation without crash (the daemon kept serving)');
  const rec = JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', '20'])).stdout).records
    .filter((x) => x.event === 'key.rotate');
  assert.ok(rec.length >= 2 && rec.every((x) => x.outcome === 'ok'), JSON.stringify(rec));
});

test('killed between the two renames (key_file linked to .old, .next not yet renamed)', async () => {
  await stack.ctl(['key', 'retire']);
  await stack.ctl(['key', 'rotate']);
  const now = (await status()).key_id;
  renameSync(key(), `${key()}.next`);	// back to the commit's files, then flowgatectl's first step
  execFileSync('cp', ['-p', `${key()}.old`, key()]);
  await stack.killDaemon('SIGKILL');
  await stack.startDaemon();
  assert.deepEqual(await inUse(), ['next']);
  assert.equal((await status()).key_id, now);
  await assertAllOpen('linked, not renamed');
  await stack.ctl(['key', 'rotate']);
  assert.deepEqual(await inUse(), ['key_file']);
  assert.notEqual(readFileSync(key()).toString('hex'), readFileSync(`${key()}.old`).toString('hex'));
});

test('1,000 apps on 1,000 connections: one rotation re-seals them all; how long it held the loop', async () => {
  await stack.ctl(['key', 'retire']);
  const c = await FrameConn.open(stack.paths.daemonSocket);
  const reqs = [];
  for (let i = 0; i < 1000; i++) {
    reqs.push({ verb: 'connection.add', name: `k${i}`, environment: 'test', tenant: stack.opts.realm, client_id: `c${i}`,
      secret: `secret-${i}-0123456789abcdef`, token_url: stack.upstream.tokenUrl, verify: false });
  }
  for (let i = 0; i < 1000; i++) {
    reqs.push({ verb: 'app.add', name: `a${i}`, flow: 'client_credentials', connection: `k${i}`,
      scopes: 'streams', kind: 'backend' });
  }
  try {
    for (let i = 0; i < reqs.length; i += 200) {
      const batch = reqs.slice(i, i + 200);
      c.send(Buffer.concat(batch.map((r, k) => encodeFrame(r, { id: i + k + 1 }))));
      for (let k = 0; k < batch.length; k++) {
        const rep = await c.next(60000);
        assert.equal(rep && rep.body.ok, true, JSON.stringify(rep && rep.body));
      }
    }
  } finally {
    c.close();
  }
  const r = await stack.ctl(['key', 'rotate'], { json: false });
  const m = r.stdout.match(/(\d+) connection secrets .* held (\d+\.\d) ms/);
  assert.ok(m && Number(m[1]) === 1001, r.stdout);
  console.log(`# key rotation of 1,001 connection secrets (1,002 apps): the loop was held ${m[2]} ms`);
  await stack.killDaemon('SIGKILL');
  await stack.startDaemon();
  await assertAllOpen('after rotating 1,001 secrets');
  s.last = (await status()).key_id;
}, { timeout: 180000 });

test('a wrong key file: the daemon refuses to start, naming the key the database needs', async () => {
  await stack.killDaemon('SIGTERM');
  renameSync(key(), `${key()}.saved`);
  await stack.ctl(['key', 'new', key()]);
  execFileSync('chown', [`${DAEMON_USER}:${DAEMON_USER}`, key()]);	// a readable key, just not the one
  await assert.rejects(stack.startDaemon(), (e) => {
    assert.match(e.message, new RegExp(`no master key opens this database: it was sealed by key ${s.last}`));
    return true;
  });
  unlinkSync(key());
  renameSync(`${key()}.saved`, key());
  await stack.startDaemon();
  assert.equal((await status()).key_id, s.last);
});
