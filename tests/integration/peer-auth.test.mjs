// SPEC §5.3: the daemon socket accepts only configured peer uids (SO_PEERCRED); others are
// refused and logged, and the daemon keeps serving.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { test, before, after, useStack } from '../lib/runner.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';
import { waitFor } from '../lib/util.mjs';
import { userIds, groupId, WEB_USER, DAEMON_USER, TESTS_DIR } from '../lib/stack.mjs';

// A throwaway account in the socket's group: it could reach the daemon socket, so it lives only
// as long as this file. Its name carries this run's pid, so two runs on one machine never share
// (or delete) each other's; script/test removes any left by a run that was killed.
const INTRUDER = `fgtest-intruder-${process.pid}`;
const stack = useStack();
let intruder;
let app;

/** The passwd or group line of name, or '' when there is none. */
function getent(db, name) {
  try { return execFileSync('getent', [db, name], { encoding: 'utf8' }).trim(); } catch { return ''; }
}

before(() => {
  execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin',
    '--user-group', '--groups', WEB_USER, INTRUDER]);
  intruder = userIds(INTRUDER);
});

// Remove the account, its own group and its membership of the web group; fail the file's
// teardown if anything is left.
after(() => {
  const quiet = { stdio: ['ignore', 'ignore', 'pipe'] };
  if (getent('passwd', INTRUDER)) execFileSync('userdel', [INTRUDER], quiet);
  if (getent('group', INTRUDER)) execFileSync('groupdel', [INTRUDER], quiet);
  assert.equal(getent('passwd', INTRUDER), '', `user ${INTRUDER} is still there`);
  assert.equal(getent('group', INTRUDER), '', `group ${INTRUDER} is still there`);
  const members = (getent('group', WEB_USER).split(':')[3] || '').split(',');
  assert.ok(!members.includes(INTRUDER), `${INTRUDER} is still in group ${WEB_USER}`);
});

test('the daemon socket is 0660, owned by the daemon user and the web group', () => {
  const st = statSync(stack.paths.daemonSocket);
  assert.ok(st.isSocket(), 'not a socket');
  assert.equal((st.mode & 0o777).toString(8), '660');
  assert.equal(st.uid, userIds(DAEMON_USER).uid, 'socket owner');
  assert.equal(st.gid, groupId(WEB_USER), 'socket group');
});

test('a uid that is not on the allowlist is refused and logged, even in the socket group', async () => {
  app = await stack.addApp('svc', { scopes: 'transcribe' });
  // sanity: the intruder really is in the socket's group, so only the peer check can stop it
  const groups = execFileSync('id', ['-Gn', INTRUDER], { encoding: 'utf8' });
  assert.match(groups, new RegExp(`\\b${WEB_USER}\\b`));
  // a raw connection as the intruder: connected (the socket mode lets it), then no answer but a close
  const probe = JSON.parse(execFileSync('setpriv', [`--reuid=${intruder.uid}`, `--regid=${intruder.gid}`, '--init-groups',
    process.execPath, join(TESTS_DIR, 'lib', 'peer-probe.mjs'), stack.paths.daemonSocket], { encoding: 'utf8' }));
  assert.equal(probe.connected, true, `the intruder could not even connect (${probe.error}); the test proves nothing`);
  assert.ok(!probe.reply || probe.reply.ok !== true, `the daemon answered the intruder: ${JSON.stringify(probe.reply)}`);
  assert.equal(probe.closed, true, 'the daemon should close a refused peer\'s connection');
  // and flowgatectl run by the intruder fails
  const r = await stack.ctl(['status'], { as: intruder, expect: null });
  assert.notEqual(r.code, 0, `flowgatectl status as ${INTRUDER} succeeded: ${r.stdout}`);
  const line = await waitFor(() => {
    const m = stack.readLogs().daemon.match(new RegExp(`refused peer uid=${intruder.uid}\\b[^\\n]*`));
    return m && m[0];
  }, { timeoutMs: 5000, what: `"refused peer uid=${intruder.uid}" in the daemon log` });
  assert.match(line, /pid=\d+/, 'the log line names the pid too');
});

test('the daemon keeps serving after the refusal', async () => {
  assert.ok(stack.daemonAlive());
  await stack.ctl(['status']);
  assertToken(await stack.token(app, 'transcribe'), ['openid', 'transcribe']);
});

test('the web front end user may not call admin verbs', async () => {
  const r = await stack.ctl(['app', 'list'], { as: WEB_USER, expect: null });
  assert.notEqual(r.code, 0, `app list as ${WEB_USER} succeeded: ${r.stdout}`);
  assert.ok(!r.stdout.includes('svc'), 'the app registry leaked to a WEB peer');
  const r2 = await stack.ctl(['app', 'add', 'sneaky', '--flow', 'client_credentials', '--connection', 'demo',
    '--scopes', 'transcribe streams interactions', '--kind', 'backend'], { as: WEB_USER, expect: null });
  assert.notEqual(r2.code, 0);
  const list = await stack.ctl(['app', 'list']);
  assert.ok(!list.stdout.includes('sneaky'), 'a WEB peer registered an app');
  assert.ok(stack.daemonAlive());
  assertToken(await stack.token(app, 'transcribe'), ['openid', 'transcribe']);
});
