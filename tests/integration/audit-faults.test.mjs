// No token ever leaves without its committed audit record (SPEC §5.6, issue 8), whatever
// fails: libfiu fails the daemon's disk writes (write, pwrite, pwritev: SQLite's WAL) and syncs
// (fsync, fdatasync; sync_full = yes), at random and always, while the same loop turns carry
// cached and cold token requests, dashboards, lists and audit queries. Afterwards every token a
// client received must have an issuance record with its fingerprint, once per time it was
// handed out, and the chain must verify.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { test, useStack, needStorage } from '../lib/runner.mjs';
import { FrameConn, encodeFrame } from '../lib/frame.mjs';
import { userIds, groupId, DAEMON_USER, WEB_USER } from '../lib/stack.mjs';


needStorage('sqlite', 'libfiu fails the writes of the SQLite file; on postgresql see pg-outage.test.mjs');
const stack = useStack({ auditConfig: { sync_full: 'yes' } });
const POINTS = ['posix/io/rw/pwrite', 'posix/io/rw/write', 'posix/io/rw/pwritev',
  'posix/io/sync/fsync', 'posix/io/sync/fdatasync'];
const received = new Map();	// fingerprint -> times handed out
let app;
let stats = { ok: 0, refused: 0, other: 0 };

function fiu(cmds) {
  execFileSync('fiu-ctrl', [...cmds.flatMap((c) => ['-c', c]), String(stack.daemonPid)], { timeout: 5000 });
}
const fp = (t) => `sha256:${createHash('sha256').update(t).digest('hex').slice(0, 32)}`;

/** One pipelined round of mixed requests; tallies the tokens handed out. */
async function round(conn, i) {
  const scopes = ['transcribe', 'streams', 'transcribe streams', `interactions`, 'streams interactions'];
  const cred = { client_id: app.client_id, client_secret: app.client_secret, grant_type: 'client_credentials' };
  const reqs = [];
  for (let k = 0; k < 40; k++) {
    reqs.push({ verb: 'token', ...cred, scope: scopes[(i + k) % scopes.length] });
    if (k % 8 === 0) reqs.push({ verb: 'dashboard' }, { verb: 'app.list', limit: 5 }, { verb: 'audit.query', limit: 3 });
  }
  conn.send(Buffer.concat(reqs.map((r, k) => encodeFrame(r, { id: i * 1000 + k + 1 }))));
  for (let k = 0; k < reqs.length; k++) {
    const rep = await conn.next(30000);
    assert.ok(rep, `no reply in round ${i} (the daemon must keep answering)`);
    // replies come as they are ready (a token's after its commit): pair them by id
    if (reqs[rep.hdr.id - i * 1000 - 1].verb !== 'token') continue;
    if (rep.body.access_token) {
      stats.ok++;
      const f = fp(rep.body.access_token);
      received.set(f, (received.get(f) || 0) + 1);
    } else if (['server_error', 'temporarily_unavailable'].includes(rep.body.error)) stats.refused++;
    else {
      stats.other++;
      console.log(`# unexpected answer: ${JSON.stringify(rep.body)}`);
    }
  }
}

test('setup: the daemon under fiu (as in audit-fail-closed), sync_full, an app', async () => {
  app = await stack.addApp('faulty', { scopes: 'transcribe streams interactions' });
  await stack.killDaemon('SIGTERM');
  const asan = (execFileSync('ldd', [stack.bins.flowgated], { encoding: 'utf8' })
    .match(/(\S*libasan\.so\S*) => (\S+)/) || [])[2];
  const preload = [asan, '/usr/lib/fiu/fiu_run_preload.so', '/usr/lib/fiu/fiu_posix_preload.so']
    .filter(Boolean).join(' ');
  await stack.startDaemon({ wrap: ['setpriv', `--reuid=${userIds(DAEMON_USER).uid}`,
    `--regid=${groupId(WEB_USER)}`, '--clear-groups', 'sh', '-c',
    'export FIU_ENABLE= FIU_CTRL_FIFO=/tmp/fiu-ctrl LD_PRELOAD="$0"; exec "$@"', preload] });
});

test('random write and sync failures at every audit write point, mixed traffic: tokens only with records', async () => {
  const conn = await FrameConn.open(stack.paths.daemonSocket);
  try {
    for (let i = 0; i < 30; i++) {
      const p = [0.05, 0.2, 0.5][i % 3];
      const which = i % 5 === 4 ? POINTS : [POINTS[i % POINTS.length]];
      fiu(which.map((n) => `enable_random name=${n},probability=${p}`));
      try {
        await round(conn, i);
      } finally {
        fiu(POINTS.map((n) => `disable name=${n}`));
      }
      await round(conn, 100 + i);	// and a round with the disk healthy again
    }
    for (let i = 0; i < 3; i++) {	// every write fails: nothing is handed out at all
      const before = stats.ok;
      fiu(POINTS.map((n) => `enable name=${n}`));
      try { await round(conn, 200 + i); } finally { fiu(POINTS.map((n) => `disable name=${n}`)); }
      assert.equal(stats.ok, before, 'a token left while every write failed');
    }
  } finally {
    conn.close();
  }
  console.log(`# tokens handed out ${stats.ok}, refused ${stats.refused}, other ${stats.other}`);
  assert.ok(stats.ok > 100 && stats.refused > 10, JSON.stringify(stats));
  assert.equal(stats.other, 0);
});

test('every token handed out has its issuance record, as often as it was handed out; the chain verifies', async () => {
  const r = await stack.ctl(['--json', 'audit', 'query', '--event', 'token.issue'], { timeoutMs: 60000 });
  const recorded = new Map();
  for (const x of JSON.parse(r.stdout).records) recorded.set(x.token_fp, (recorded.get(x.token_fp) || 0) + 1);
  const missing = [...received].filter(([f, n]) => (recorded.get(f) || 0) < n);
  assert.deepEqual(missing, [], `tokens handed out more often than recorded: ${JSON.stringify(missing.slice(0, 5))}`);
  const v = await stack.ctl(['audit', 'verify'], { expect: null });
  assert.equal(v.code, 0, v.stdout + v.stderr);
});
