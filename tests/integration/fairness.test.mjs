// The daemon's loop is shared fairly (issue 8): a peer that pipelines thousands of requests is
// served a share per turn, so another peer's request is answered long before the flood is; and
// web peers cannot take the connection slots kept for local administration (flowgatectl).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test, useStack } from '../lib/runner.mjs';
import { TESTS_DIR, userIds, WEB_USER } from '../lib/stack.mjs';
import { FrameConn, encodeFrame } from '../lib/frame.mjs';

const stack = useStack({});

test('a pipelining peer does not keep the loop: another peer is answered within a few turns', async () => {
  const flood = await FrameConn.open(stack.paths.daemonSocket);
  const other = await FrameConn.open(stack.paths.daemonSocket);
  const N = 4000;
  const frames = [];
  for (let i = 1; i <= N; i++) frames.push(encodeFrame({ verb: 'stats' }, { id: i }));
  // both peers' requests wait in their sockets before the daemon reads any of them; each
  // "stats" reply carries the daemon's request counter, so the order is the daemon's own,
  // whatever the load on this machine does to when the test reads the replies
  const pid = stack.daemonPid;
  process.kill(pid, 'SIGSTOP');
  let pending;
  try {
    flood.send(Buffer.concat(frames));
    await new Promise((r) => setTimeout(r, 50));
    pending = other.call({ verb: 'stats' }, { id: 1, timeoutMs: 20000 });
    await new Promise((r) => setTimeout(r, 50));
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  const rep = await pending;
  assert.ok(rep && rep.body.ok, JSON.stringify(rep));
  // the flood is served completely, in order
  const deadline = Date.now() + 20000;
  while (flood.replies.length < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(flood.replies.length, N, `flood answered ${flood.replies.length}`);
  assert.deepEqual(flood.replies.slice(0, 5).map((x) => x.hdr.id), [1, 2, 3, 4, 5]);
  const ahead = flood.replies.filter((x) => x.body.requests < rep.body.requests).length;
  // a turn serves 16 frames of each peer: the other waits at most two turns' shares (146-292
  // when a turn may take all it has read)
  assert.ok(ahead <= 32, `the other peer waited behind ${ahead} of the flood's ${N} requests`);
  flood.close();
  other.close();
});

test('web peers cannot fill the slots kept for flowgatectl', async () => {
  const u = userIds(WEB_USER);
  const child = spawn('setpriv', [`--reuid=${u.uid}`, `--regid=${u.gid}`, '--clear-groups',
    process.execPath, join(TESTS_DIR, 'lib', 'peer-flood.mjs'), stack.paths.daemonSocket, '530'],
  { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const line = await new Promise((res, rej) => {
      let out = '';
      child.stdout.on('data', (d) => { out += d; if (out.includes('\n')) res(out); });
      child.on('exit', (c) => rej(new Error(`peer-flood exited ${c}: ${out}`)));
    });
    const { accepted } = JSON.parse(line);
    assert.ok(accepted >= 400 && accepted < 512, `web peers accepted: ${accepted}`);
    const st = await stack.ctl(['--json', 'status']);
    assert.equal(st.code, 0, st.stderr);
    assert.equal(JSON.parse(st.stdout).ok, true, st.stdout);
  } finally {
    child.stdin.end();
    await new Promise((r) => { if (child.exitCode !== null) r(); else child.once('exit', r); });
  }
});
