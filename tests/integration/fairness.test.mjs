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
  for (let i = 1; i <= N; i++) frames.push(encodeFrame({ verb: 'health' }, { id: i }));
  let floodDone = 0;
  flood.sock.on('data', () => { floodDone = flood.replies.length; });
  flood.send(Buffer.concat(frames));
  // the other peer asks once the flood is being served
  await new Promise((r) => setTimeout(r, 20));
  const seenBefore = flood.replies.length;
  const rep = await other.call({ verb: 'health' }, { id: 1, timeoutMs: 10000 });
  const seenAt = flood.replies.length;
  assert.ok(rep && rep.body.ok, JSON.stringify(rep));
  assert.ok(seenAt - seenBefore < N / 4,
    `the other peer waited behind ${seenAt - seenBefore} of the flood's ${N} requests`);
  // the flood is served completely, in order
  const deadline = Date.now() + 20000;
  while (flood.replies.length < N && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(flood.replies.length, N, `flood answered ${floodDone}`);
  assert.deepEqual(flood.replies.slice(0, 5).map((x) => x.hdr.id), [1, 2, 3, 4, 5]);
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
