// Issue 8, login limits that hold and Argon2 work that stays bounded and off the event loop, at
// the daemon (requests from the web user's socket, as a compromised front end would send them):
// an attempt counts when its check starts, so pipelined guesses cannot outrun the limit; a lock
// survives whatever else is tried; the Argon2 queue refuses at once when full; password changes
// are checked and hashed off the loop and count like logins.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test, useStack } from '../lib/runner.mjs';
import { addUser, login, web } from '../lib/web.mjs';
import { TESTS_DIR, userIds, WEB_USER } from '../lib/stack.mjs';

const MAX = 3;		// login_max_failures here; an address may fail 4x as often
const QUEUE = 32;	// Argon2 jobs the daemon queues at most (daemon/pwhash.c)
const stack = useStack({ adminConfig: { login_max_failures: MAX } });
const PW = { alice: 'alice-password-1', bob: 'bob-password-22', carol: 'carol-password-333',
  dave: 'dave-password-4444', frank: 'frank-password-55555' };
let app;

/** Run a plan of tests/lib/login-race.mjs as the web user; {replies, token, order}. */
function race(plan) {
  const u = userIds(WEB_USER);
  const out = execFileSync('setpriv', [`--reuid=${u.uid}`, `--regid=${u.gid}`, '--clear-groups',
    process.execPath, join(TESTS_DIR, 'lib', 'login-race.mjs'), stack.paths.daemonSocket,
    '--plan', '-'], { input: JSON.stringify(plan), encoding: 'utf8', timeout: 120000,
    maxBuffer: 64 << 20 });
  return JSON.parse(out);
}

const attempt = (user, password, remote) => ({ verb: 'login', user, password, remote });
const errors = (r) => r.replies.map((x) => (x && x.body.ok ? 'ok' : x ? x.body.error : 'none'));

test('setup: accounts, and an app whose token is cached', async () => {
  for (const [name, role] of [['alice', 'admin'], ['bob', 'security'], ['carol', 'auditor'],
    ['dave', 'auditor'], ['frank', 'auditor']]) await addUser(stack, name, role, PW[name]);
  app = await stack.addApp('racer', { scopes: 'streams' });
  await stack.token(app, 'streams');	// cached: the daemon answers it without the upstream
});

test('pipelined wrong passwords then the right one: the account locks and the right one is refused', () => {
  const wrong = [1, 2, 3, 4, 5, 6].map((i) => attempt('carol', `wrong-password-${i}`, `10.1.0.${i}`));
  const r = race({ requests: [...wrong, attempt('carol', PW.carol, '10.1.0.99')] });
  assert.deepEqual(errors(r), ['login_failed', 'login_failed', 'login_failed', 'rate_limited',
    'rate_limited', 'rate_limited', 'rate_limited'], 'all sent before any answer: the checks '
    + `still running must count, or the burst outruns the limit: ${JSON.stringify(errors(r))}`);
  assert.ok(r.replies[6].body.retry_after > 0, JSON.stringify(r.replies[6]));
  const later = login(stack, 'carol', PW.carol, '10.1.0.100');
  assert.equal(later.error, 'rate_limited', 'the account must stay locked once the burst is answered');
  assert.ok(later.retry_after > 0);
}, { timeout: 60000 });

test('5,000 other names tried from a locked address do not erase an account\'s lock', () => {
  const locked = race({ requests: [1, 2, 3].map((i) => attempt('dave', `nope-nope-${i}`, '10.2.0.1')) });
  assert.deepEqual(errors(locked), ['login_failed', 'login_failed', 'login_failed']);
  // the address locks after 4x the account limit (one at a time: this part holds today)
  const lock = race({ requests: Array.from({ length: 4 * MAX + 1 }, (_, i) => attempt(`locker-${i}`, 'wrong-password-x', '10.66.0.1')), window: 1 });
  assert.deepEqual(errors(lock), [...Array(4 * MAX).fill('login_failed'), 'rate_limited']);
  const names = Array.from({ length: 5000 }, (_, i) => attempt(`filler-${i}`, 'wrong-password-x', '10.66.0.1'));
  const r = race({ requests: names, window: 200 });
  assert.deepEqual([...new Set(errors(r))], ['rate_limited'], 'the address\'s own lock was forgotten as the names filled the table');
  const right = login(stack, 'dave', PW.dave, '10.2.0.2');
  assert.equal(right.error, 'rate_limited', `the lock was forgotten: ${JSON.stringify(right)}`);
}, { timeout: 120000 });

test('the Argon2 queue is bounded: past it logins are refused at once, a token is answered meanwhile', () => {
  const n = QUEUE + 40;
  const logins = Array.from({ length: n }, (_, i) => attempt(`flood-${i}`, 'wrong-password-y', `10.3.${i >> 8}.${i & 255}`));
  // frank's wrong passwords arrive while the queue is full: refused unchecked, they do not count
  const frank = [1, 2, 3, 4].map((i) => attempt('frank', `bad-bad-bad-${i}`, '10.4.0.1'));
  const r = race({ requests: [...logins, ...frank], token: { client_id: app.client_id,
    client_secret: app.client_secret, scope: 'streams' }, delay_ms: 30 });
  const e = errors(r);
  const busy = r.replies.filter((x) => x.body.error === 'temporarily_unavailable');
  assert.ok(e.filter((x) => x === 'login_failed').length <= QUEUE, `more checks than the queue holds ran: ${JSON.stringify(e)}`);
  assert.ok(busy.length >= n + 4 - QUEUE, `too few refusals: ${JSON.stringify(e)}`);
  for (const b of busy) {
    assert.match(b.body.message, /too many password checks are waiting/);
    assert.ok(b.body.retry_after > 0, JSON.stringify(b.body));
  }
  assert.deepEqual(e.slice(n), ['temporarily_unavailable', 'temporarily_unavailable',
    'temporarily_unavailable', 'temporarily_unavailable']);
  const slowest = Math.max(...r.replies.filter((x) => x.body.error === 'login_failed').map((x) => x.ms));
  assert.ok(Math.max(...busy.map((x) => x.ms)) < slowest, 'refusals must not wait for the checks');
  assert.equal(r.token.body.ok, true, JSON.stringify(r.token));
  assert.ok(r.token.ms < slowest && r.token.ms < 1000, `the token waited ${r.token.ms} ms (checks ran for ${slowest} ms)`);
  assert.equal(login(stack, 'frank', PW.frank, '10.4.0.2').ok, true, 'refused attempts locked frank out');
}, { timeout: 120000 });

test('a password change is checked and hashed off the event loop: a token is answered first', () => {
  const s = login(stack, 'alice', PW.alice, '10.5.0.1');
  assert.equal(s.ok, true, JSON.stringify(s));
  const r = race({ requests: [{ verb: 'account.password', session: s.session, csrf: s.csrf,
    old_password: PW.alice, new_password: 'alice-password-2' }], token: { client_id: app.client_id,
    client_secret: app.client_secret, scope: 'streams' }, delay_ms: 10 });
  assert.equal(r.replies[0].body.ok, true, JSON.stringify(r.replies[0]));
  assert.equal(r.token.body.ok, true, JSON.stringify(r.token));
  assert.deepEqual(r.order, ['token', 'r0'], `two Argon2id runs inline kept the token waiting: ${JSON.stringify(r)}`);
  assert.equal(login(stack, 'alice', PW.alice, '10.5.0.2').error, 'login_failed');
  assert.equal(login(stack, 'alice', 'alice-password-2', '10.5.0.3').ok, true);
  PW.alice = 'alice-password-2';
});

test('wrong old passwords in password changes count like failed logins and lock the account', () => {
  const s = login(stack, 'bob', PW.bob, '10.6.0.1');
  assert.equal(s.ok, true, JSON.stringify(s));
  const change = (old) => ({ verb: 'account.password', session: s.session, csrf: s.csrf, old_password: old, new_password: 'bob-password-new-1' });
  const r = race({ requests: [change('guess-one-111'), change('guess-two-222'), change('guess-three-333'), change(PW.bob)] });
  assert.deepEqual(errors(r), ['login_failed', 'login_failed', 'login_failed', 'rate_limited'], JSON.stringify(errors(r)));
  assert.ok(r.replies[3].body.retry_after > 0);
  assert.equal(login(stack, 'bob', PW.bob, '10.6.0.2').error, 'rate_limited', 'the same limit holds for logins');
});

test('password changes are bounded like logins: refused at once while the queue is full', () => {
  const s = login(stack, 'alice', PW.alice, '10.7.0.1');
  const logins = Array.from({ length: QUEUE }, (_, i) => attempt(`flood2-${i}`, 'wrong-password-z', `10.8.${i >> 8}.${i & 255}`));
  const r = race({ requests: [...logins, { verb: 'account.password', session: s.session, csrf: s.csrf,
    old_password: PW.alice, new_password: 'alice-password-3' }] });
  const last = r.replies[QUEUE].body;
  assert.equal(last.error, 'temporarily_unavailable', JSON.stringify(last));
  assert.ok(last.retry_after > 0);
  assert.equal(login(stack, 'alice', PW.alice, '10.7.0.2').ok, true, 'the refused change changed nothing');
}, { timeout: 60000 });
