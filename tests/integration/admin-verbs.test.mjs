// SPEC §5.7 and issue 3, at the daemon: sessions, roles, CSRF and rate limits are enforced by
// the daemon itself, whatever the web front end sends (these requests come straight from the
// web user's socket, as a compromised front end would send them).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken, assertUnavailable, assertRefused } from '../lib/oauth-assert.mjs';
import { addUser, asWeb, login, web } from '../lib/web.mjs';
import { TESTS_DIR, userIds, WEB_USER } from '../lib/stack.mjs';
import { sleep } from '../lib/util.mjs';

const stack = useStack({ adminConfig: { session_idle_s: 10, login_max_failures: 3 } });
const PW = { alice: 'alice-password-1', bob: 'bob-password-22', carol: 'carol-password-333' };
const s = {};
let app;

async function auditTail(n = 50) {
  return JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', String(n)])).stdout).records;
}

test('users are created with flowgatectl (password on stdin) and can log in', async () => {
  await addUser(stack, 'alice', 'admin', PW.alice);
  await addUser(stack, 'bob', 'security', PW.bob);
  await addUser(stack, 'carol', 'auditor', PW.carol);
  for (const u of ['alice', 'bob', 'carol']) {
    s[u] = login(stack, u, PW[u]);
    assert.equal(s[u].ok, true, JSON.stringify(s[u]));
    assert.match(s[u].session, /^[A-Za-z0-9_-]{43}$/, 'a 256-bit session id, base64url');
    assert.match(s[u].csrf, /^[0-9a-f]{32}$/);
  }
  assert.equal(s.bob.role, 'security');
  const again = web(stack, { verb: 'session', session: s.alice.session });
  assert.equal(again.user, 'alice');
  assert.equal(again.csrf, s.alice.csrf, 'the CSRF token is bound to the session');
});

test('a wrong password and an unknown user get the same answer', () => {
  const a = login(stack, 'alice', 'not-her-password', '10.0.0.1');
  const b = login(stack, 'nobody-here', 'whatever-password', '10.0.0.2');
  assert.equal(a.error, 'login_failed');
  assert.deepEqual({ ...a }, { ...b }, 'the two failures differ: the answer reveals which part was wrong');
});

test('no session, a made-up session, or a session of the wrong role: refused by the daemon', () => {
  const [none, fake] = asWeb(stack, [{ verb: 'connection.list' },
    { verb: 'connection.list', session: 'A'.repeat(43) }]);
  assert.equal(none.error, 'unauthenticated');
  assert.equal(fake.error, 'unauthenticated');
  const list = web(stack, { verb: 'connection.list', session: s.carol.session });
  assert.equal(list.ok, true, JSON.stringify(list));
  const [reg, rot, stop] = asWeb(stack, [
    { verb: 'app.add', session: s.carol.session, csrf: s.carol.csrf, name: 'x', flow: 'client_credentials', connection: 'demo', scopes: 'streams', kind: 'backend' },
    { verb: 'connection.rotate', session: s.carol.session, csrf: s.carol.csrf, name: 'demo', secret: 'whatever-secret' },
    { verb: 'connection.stop', session: s.alice.session, csrf: s.alice.csrf, name: 'demo' },
  ]);
  assert.equal(reg.error, 'forbidden', 'an auditor registered an app');
  assert.equal(rot.error, 'forbidden', 'an auditor rotated a secret');
  assert.equal(stop.error, 'forbidden', 'an admin used the security role\'s emergency stop');
});

test('a change without the CSRF token, or with another session\'s, is refused', () => {
  const base = { verb: 'app.add', session: s.alice.session, name: 'svc', flow: 'client_credentials', connection: 'demo', scopes: 'transcribe streams', kind: 'backend' };
  const [none, wrong, other] = asWeb(stack, [base, { ...base, csrf: '0'.repeat(32) }, { ...base, csrf: s.bob.csrf }]);
  for (const r of [none, wrong, other]) assert.equal(r.error, 'csrf', JSON.stringify(r));
});

test('an admin registers an app; the record names the user', async () => {
  app = web(stack, { verb: 'app.add', session: s.alice.session, csrf: s.alice.csrf, name: 'svc', flow: 'client_credentials', connection: 'demo', scopes: 'transcribe streams', kind: 'backend' });
  assert.equal(app.ok, true, JSON.stringify(app));
  assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);
  const rec = (await auditTail()).find((r) => r.event === 'app.add' && r.app === 'svc' && r.outcome === 'ok');
  assert.equal(rec.actor, 'user:alice');
  const refused = (await auditTail()).filter((r) => r.event === 'admin.refuse');
  assert.ok(refused.some((r) => r.actor === 'user:carol' && r.outcome === 'forbidden'), 'forbidden attempts are audited');
  assert.ok(refused.some((r) => r.outcome === 'csrf'), 'CSRF failures are audited');
});

test('emergency stop by security: tokens refused at once; resume: served again', async () => {
  const stop = web(stack, { verb: 'connection.stop', session: s.bob.session, csrf: s.bob.csrf, name: 'demo' });
  assert.equal(stop.ok, true, JSON.stringify(stop));
  assertUnavailable(await stack.token(app, 'streams'));
  const conn = web(stack, { verb: 'connection.show', session: s.bob.session, name: 'demo' });
  assert.equal(conn.connection.stopped, true);
  const resume = web(stack, { verb: 'connection.resume', session: s.bob.session, csrf: s.bob.csrf, name: 'demo' });
  assert.equal(resume.ok, true);
  assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);
});

test('connection test makes a real token request with the stored secret', () => {
  const t = web(stack, { verb: 'connection.test', session: s.bob.session, csrf: s.bob.csrf, name: 'demo' });
  assert.equal(t.outcome, 'ok', JSON.stringify(t));
  assert.ok(t.latency_ms >= 0);
});

test('app credential rotation with overlap: old and new work, then only the new', async () => {
  const r = web(stack, { verb: 'app.rotate_secret', session: s.alice.session, csrf: s.alice.csrf, name: 'svc', overlap_s: 3 });
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.equal(r.client_id, app.client_id);
  assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);
  const fresh = { client_id: r.client_id, client_secret: r.client_secret };
  assertToken(await stack.token(fresh, 'streams'), ['openid', 'streams']);
  await sleep(3500);
  assertRefused(await stack.token(app, 'streams'), 401, 'invalid_client');
  assertToken(await stack.token(fresh, 'streams'), ['openid', 'streams']);
  app = { ...app, ...fresh };
});

test('app.update is checked against the policy again', () => {
  const bad = web(stack, { verb: 'app.update', session: s.alice.session, csrf: s.alice.csrf, name: 'svc', scopes: 'nonsense"scope' });
  assert.equal(bad.error, 'bad_request');
  const ok = web(stack, { verb: 'app.update', session: s.alice.session, csrf: s.alice.csrf, name: 'svc', scopes: 'streams' });
  assert.equal(ok.app.scopes, 'openid streams');
});

test('dashboard and audit.query answer every role', () => {
  const d = web(stack, { verb: 'dashboard', session: s.carol.session });
  assert.equal(d.ok, true, JSON.stringify(d));
  const svc = d.issuance.apps.find((x) => x.app === 'svc');
  assert.ok(svc && svc.hours.length === 24 && svc.hours[23] >= 3, JSON.stringify(d.issuance));
  assert.ok(d.issuance.total >= svc.total && d.issuance.active >= 1, JSON.stringify(d.issuance));
  assert.equal(d.chain.ok, true);
  const q = web(stack, { verb: 'audit.query', session: s.carol.session, app: 'svc', event: 'token.issue', limit: 2 });
  assert.equal(q.records.length, 2);
  assert.equal(q.more, true);
  assert.equal(q.next, q.records[1].seq, 'the next page starts before the last record shown');
  assert.ok(q.records[0].seq > q.records[1].seq, 'newest first');
});

test('logins are rate-limited per account, even with the right password afterwards', () => {
  const tries = asWeb(stack, [1, 2, 3, 4].map(() => ({ verb: 'login', user: 'carol', password: 'wrong-password!', remote: '10.9.9.9' })));
  assert.deepEqual(tries.map((t) => t.error), ['login_failed', 'login_failed', 'login_failed', 'rate_limited']);
  const right = login(stack, 'carol', PW.carol, '10.9.9.10');
  assert.equal(right.error, 'rate_limited', 'the lock must hold for the account from any address');
  assert.ok(right.retry_after > 0);
});

test('a password change needs the old one; the old one stops working', () => {
  const wrong = web(stack, { verb: 'account.password', session: s.bob.session, csrf: s.bob.csrf, old_password: 'nope-nope-nope', new_password: 'bob-new-password-1' });
  assert.equal(wrong.error, 'login_failed');
  const short = web(stack, { verb: 'account.password', session: s.bob.session, csrf: s.bob.csrf, old_password: PW.bob, new_password: 'short' });
  assert.equal(short.error, 'bad_request');
  const ok = web(stack, { verb: 'account.password', session: s.bob.session, csrf: s.bob.csrf, old_password: PW.bob, new_password: 'bob-new-password-1' });
  assert.equal(ok.ok, true, JSON.stringify(ok));
  assert.equal(login(stack, 'bob', PW.bob, '10.1.1.1').error, 'login_failed');
  assert.equal(login(stack, 'bob', 'bob-new-password-1', '10.1.1.2').ok, true);
});

test('disabling a user ends their sessions at once', () => {
  const d = web(stack, { verb: 'account.disable', session: s.alice.session, csrf: s.alice.csrf, name: 'bob' });
  assert.equal(d.ok, true, JSON.stringify(d));
  assert.equal(web(stack, { verb: 'session', session: s.bob.session }).error, 'unauthenticated');
  assert.equal(login(stack, 'bob', 'bob-new-password-1', '10.1.1.3').error, 'login_failed');
});

test('logout ends the session on the server: the old cookie value is worthless', () => {
  assert.equal(web(stack, { verb: 'logout', session: s.alice.session }).ok, true);
  assert.equal(web(stack, { verb: 'dashboard', session: s.alice.session }).error, 'unauthenticated');
});

test('an idle session expires (idle timeout 10 s here)', async () => {
  const fresh = login(stack, 'alice', PW.alice, '10.2.2.2');
  assert.equal(web(stack, { verb: 'session', session: fresh.session }).ok, true);
  await sleep(11000);
  assert.equal(web(stack, { verb: 'session', session: fresh.session }).error, 'unauthenticated');
}, { timeout: 30000 });

test('at rest: Argon2id password hashes, session ids only as hashes', async () => {
  // the whole store as bytes: a backup of the SQLite file, or a dump of the PostgreSQL database
  const copy = join(stack.paths.dataDir, 'inspect.db');
  if (!stack.pg) assert.equal((await stack.ctl(['backup', copy])).code, 0);
  const hashes = stack.pg ? stack.sql('SELECT pw_hash FROM users').split('\n')
    : execFileSync('sqlite3', [copy, 'SELECT pw_hash FROM users'], { encoding: 'utf8' }).trim().split('\n');
  assert.equal(hashes.length, 3);
  for (const h of hashes) assert.match(h, /^\$argon2id\$v=19\$m=65536,t=2,p=1\$/, h);
  const bytes = stack.pg ? Buffer.from(stack.pg.dump()) : readFileSync(copy);
  assert.ok(bytes.includes(Buffer.from(hashes[0])), 'the dump does not hold the users table');
  for (const u of ['alice', 'bob', 'carol']) {
    assert.equal(bytes.includes(Buffer.from(s[u].session)), false, `${u}'s session id is stored in clear`);
    assert.equal(bytes.includes(Buffer.from(PW[u])), false, `${u}'s password is stored`);
  }
});

test('password checks run off the event loop: a token is not kept waiting behind logins', async () => {
  const app = await stack.addApp('racer', { scopes: 'streams' });
  await stack.token(app, 'streams');	// cached: the daemon answers it without the upstream
  const u = userIds(WEB_USER);
  const out = execFileSync('setpriv', [`--reuid=${u.uid}`, `--regid=${u.gid}`, '--clear-groups',
    process.execPath, join(TESTS_DIR, 'lib', 'login-race.mjs'), stack.paths.daemonSocket, '6',
    app.client_id, app.client_secret], { encoding: 'utf8', timeout: 60000 });
  const order = JSON.parse(out);
  assert.equal(order.filter((x) => x === 'login').length, 6, out);
  // six Argon2id checks take several hundred ms on their thread; the token comes first
  assert.ok(order.indexOf('token') >= 0 && order.indexOf('token') < 3, `replies arrived in this order: ${out}`);
});
