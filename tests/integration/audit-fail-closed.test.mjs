// SPEC §5.6: if the audit record cannot be written, the token is not issued (fail-closed).
// libfiu makes the daemon's disk writes fail on demand, as a full disk would.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test, useStack, needStorage } from '../lib/runner.mjs';
import { assertToken, assertJson } from '../lib/oauth-assert.mjs';
import { userIds, groupId, DAEMON_USER, WEB_USER } from '../lib/stack.mjs';


needStorage('sqlite', 'libfiu fails the writes of the SQLite file; on postgresql see pg-outage.test.mjs');
const stack = useStack();
const WRITES = ['posix/io/rw/pwrite', 'posix/io/rw/write', 'posix/io/rw/pwritev',
  'posix/io/sync/fsync', 'posix/io/sync/fdatasync'];
let app;

function fiu(action) {
  const args = WRITES.flatMap((n) => ['-c', `${action} name=${n}`]);
  execFileSync('fiu-ctrl', [...args, String(stack.daemonPid)], { timeout: 5000 });
}

async function auditIssues() {
  const r = await stack.ctl(['--json', 'audit', 'tail', '-n', '1000']);
  return JSON.parse(r.stdout).records.filter((x) => x.event === 'token.issue').length;
}

test('setup: the daemon runs under fiu-run (as its user, the socket in the web group)', async () => {
  app = await stack.addApp('svc', { scopes: 'transcribe streams' });
  await stack.killDaemon('SIGTERM');
  // started directly as its user (no root, so no drop) so that fiu's control fifo stays usable;
  // the web group as its gid gives the socket the group the front end needs
  // what fiu-run -x does, spelled out so that under ASan its runtime can come first in the
  // preload list (ASan insists)
  const asan = (execFileSync('ldd', [stack.bins.flowgated], { encoding: 'utf8' })
    .match(/(\S*libasan\.so\S*) => (\S+)/) || [])[2];
  const preload = [asan, '/usr/lib/fiu/fiu_run_preload.so', '/usr/lib/fiu/fiu_posix_preload.so']
    .filter(Boolean).join(' ');
  // a shell sets the preload and execs, so only the daemon itself loads it (as fiu-run does)
  await stack.startDaemon({ wrap: ['setpriv', `--reuid=${userIds(DAEMON_USER).uid}`,
    `--regid=${groupId(WEB_USER)}`, '--clear-groups', 'sh', '-c',
    'export FIU_ENABLE= FIU_CTRL_FIFO=/tmp/fiu-ctrl LD_PRELOAD="$0"; exec "$@"', preload] });
  assertToken(await stack.token(app, 'transcribe'), ['openid', 'transcribe']);
});

test('with disk writes failing, no token is issued: a 500 JSON error without access_token', async () => {
  const before = await auditIssues();
  fiu('enable');
  let results;
  try {
    // one from the cache, one that needs the upstream
    results = [await stack.token(app, 'transcribe'), await stack.token(app, 'streams')];
  } finally {
    fiu('disable');
  }
  for (const r of results) {
    assertJson(r);
    const j = r.json;
    assert.equal(r.status, 500, `status ${r.status}: ${r.body}`);
    assert.equal(j.error, 'server_error', r.body);
    assert.ok(!('access_token' in j), 'a token was issued without its audit record');
    assert.doesNotMatch(r.body, /eyJ/, 'something token-like leaked into the error');
  }
  assert.equal(await auditIssues(), before, 'the failed issuances must not appear as issued');
});

test('writes work again: tokens are issued, audited, and the chain verifies', async () => {
  const before = await auditIssues();
  assertToken(await stack.token(app, 'transcribe'), ['openid', 'transcribe']);
  assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);
  assert.equal(await auditIssues(), before + 2);
  const v = await stack.ctl(['audit', 'verify']);
  assert.match(v.stdout, /audit chain ok/, v.stdout + v.stderr);
});
