// SPEC §5.4: the daemon runs as its own user, is undumpable, has no core dumps, and refuses to
// start when its key file or database is readable by group or others.
import assert from 'node:assert/strict';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';
import { userIds, DAEMON_USER } from '../lib/stack.mjs';

const stack = useStack();

function procStatus(pid) {
  return readFileSync(`/proc/${pid}/status`, 'utf8');
}

test('the daemon runs as its own user with no supplementary groups', () => {
  const st = procStatus(stack.daemonPid);
  const uid = userIds(DAEMON_USER).uid;
  assert.match(st, new RegExp(`^Uid:\\s+${uid}\\s+${uid}\\s+${uid}\\s+${uid}$`, 'm'), st);
  const groups = (st.match(/^Groups:(.*)$/m) || ['', ''])[1].trim().split(/\s+/).filter(Boolean);
  const gid = String(userIds(DAEMON_USER).gid);
  assert.ok(groups.every((g) => g === gid), `supplementary groups kept: ${groups}`);
  assert.match(st, /^CapEff:\s+0+$/m, 'the daemon kept capabilities');
});

test('the daemon is undumpable: its /proc entries belong to root, so its own uid cannot ptrace it', () => {
  // the kernel makes /proc/PID/* of a non-dumpable process root-owned
  const st = statSync(`/proc/${stack.daemonPid}/environ`);
  assert.equal(st.uid, 0, `/proc/${stack.daemonPid}/environ is owned by uid ${st.uid}: PR_SET_DUMPABLE not 0`);
});

test('core dumps are off (RLIMIT_CORE 0)', () => {
  const limits = readFileSync(`/proc/${stack.daemonPid}/limits`, 'utf8');
  assert.match(limits, /^Max core file size\s+0\s+0\s+bytes/m, limits);
});

async function refusesWith(path, what) {
  await stack.killDaemon('SIGTERM');
  chmodSync(path, 0o640);
  try {
    await assert.rejects(stack.startDaemon(), (err) => {
      assert.match(err.message, /readable or writable by group or others/, err.message);
      return true;
    }, `flowgated started with a group-readable ${what}`);
  } finally {
    chmodSync(path, 0o600);
  }
}

test('a group-readable key file: the daemon refuses to start and says why', async () => {
  await refusesWith(stack.paths.keyFile, 'key file');
});

test('a group-readable database: the daemon refuses to start and says why', async () => {
  await refusesWith(stack.paths.database, 'database');
});

test('with the modes put right it starts and serves again', async () => {
  await stack.startDaemon();
  const app = await stack.addApp('after', { scopes: 'streams' });
  assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);
});
