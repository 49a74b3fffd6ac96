// Issue 8: the login limiter's table is bounded, and filling it never erases a lock.  With room
// for 32 keys (login_limits_max, at its smallest useful size so that the test fills it with real
// Argon2 checks in seconds), lock an account, then lock 40 more names from fresh addresses: the
// oldest unlocked entries make room; the locks all stay; once only locks remain, a new key is
// refused (rate_limited, retry_after) rather than a lock forgotten.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test, useStack } from '../lib/runner.mjs';
import { addUser, login } from '../lib/web.mjs';
import { TESTS_DIR, userIds, WEB_USER } from '../lib/stack.mjs';

const MAX = 3;
const TABLE = 32;
const stack = useStack({ adminConfig: { login_max_failures: MAX, login_limits_max: TABLE } });
const PW = { erin: 'erin-password-12345' };

/** Run a plan of tests/lib/login-race.mjs as the web user; {replies, token, order}. */
function race(plan) {
  const u = userIds(WEB_USER);
  const out = execFileSync('setpriv', [`--reuid=${u.uid}`, `--regid=${u.gid}`, '--clear-groups',
    process.execPath, join(TESTS_DIR, 'lib', 'login-race.mjs'), stack.paths.daemonSocket,
    '--plan', '-'], { input: JSON.stringify(plan), encoding: 'utf8', timeout: 120000 });
  return JSON.parse(out);
}

const attempt = (user, password, remote) => ({ verb: 'login', user, password, remote });
const errors = (r) => r.replies.map((x) => (x && x.body.ok ? 'ok' : x ? x.body.error : 'none'));

test('a full table of locks keeps every lock and refuses new names', async () => {
  await addUser(stack, 'erin', 'auditor', PW.erin);
  const erin = race({ requests: [1, 2, 3].map((i) => attempt('erin', `wrong-erin-${i}`, '10.20.0.1')) });
  assert.deepEqual(errors(erin), ['login_failed', 'login_failed', 'login_failed']);
  // 40 names, 3 wrong passwords each, every attempt from an address of its own
  const fill = [];
  for (let n = 0; n < 40; n++) {
    for (let i = 0; i < MAX; i++) fill.push(attempt(`locked-${n}`, 'wrong-password-q', `10.21.${n}.${i}`));
  }
  const r = race({ requests: fill, window: 8 });
  const e = errors(r);
  assert.ok(e.every((x) => x === 'login_failed' || x === 'rate_limited'), JSON.stringify(e));
  assert.ok(e.filter((x) => x === 'rate_limited').length > 0, 'the table never filled: nothing to test');
  const right = login(stack, 'erin', PW.erin, '10.20.0.2');
  assert.equal(right.error, 'rate_limited', `erin's lock was forgotten to make room: ${JSON.stringify(right)}`);
  const oldest = login(stack, 'locked-0', 'wrong-password-q', '10.22.0.1');
  assert.equal(oldest.error, 'rate_limited', `the oldest lock was forgotten: ${JSON.stringify(oldest)}`);
  const fresh = login(stack, 'someone-new', 'any-password-1', '10.23.0.1');
  assert.equal(fresh.error, 'rate_limited', `a new key took a lock's place: ${JSON.stringify(fresh)}`);
  assert.ok(fresh.retry_after > 0 && fresh.retry_after <= 900, JSON.stringify(fresh));
}, { timeout: 120000 });
