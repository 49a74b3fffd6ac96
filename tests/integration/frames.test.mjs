// SPEC §5.3: frames have a hard size cap, a versioned header and a strict schema per verb;
// a bad frame closes that one connection and the daemon keeps serving everyone else.
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';
import { FrameConn, encodeFrame, FRAME_MAX, FRAME_REPLY } from '../lib/frame.mjs';

const stack = useStack();
let app;
let bystander; // a connection that must survive every other connection's bad frame

async function open() {
  return FrameConn.open(stack.paths.daemonSocket);
}

async function assertBystanderServed(id) {
  const rep = await bystander.call({ verb: 'health' }, { id });
  assert.ok(rep, 'the other connection got no answer');
  assert.equal(rep.hdr.type, FRAME_REPLY);
  assert.equal(rep.hdr.id, id);
  assert.equal(rep.body.ok, true, JSON.stringify(rep.body));
}

test('a well-formed request gets a reply frame with the same id', async () => {
  app = await stack.addApp('svc', { scopes: 'transcribe' });
  bystander = await open();
  await assertBystanderServed(0xfffffff0);
  const c = await open();
  const rep = await c.call({ verb: 'token', client_id: app.client_id, client_secret: app.client_secret,
    grant_type: 'client_credentials', scope: 'transcribe' }, { id: 42 });
  assert.equal(rep.hdr.id, 42);
  assert.equal(rep.body.ok, true, JSON.stringify(rep.body));
  assert.equal(typeof rep.body.access_token, 'string');
  c.close();
});

test('an unknown verb and an unknown field are refused (an error reply or a close), nothing more', async () => {
  for (const body of [{ verb: 'give_me_secrets' }, { verb: 'health', extra: 1 },
    { verb: 'token', client_id: app.client_id, client_secret: app.client_secret, grant_type: 'client_credentials', scope: 'transcribe', admin: true },
    { verb: 'connection.secret', name: 'demo' }, { noverb: true }, [1, 2, 3], 'just a string']) {
    const c = await open();
    const rep = await c.call(body, { id: 9 });
    if (rep) {
      assert.equal(rep.body.ok, false, `${JSON.stringify(body)} was accepted: ${JSON.stringify(rep.body)}`);
      assert.equal(typeof rep.body.error, 'string');
      assert.equal(rep.body.access_token, undefined);
      assert.equal(rep.body.secret, undefined);
    } else {
      assert.ok(c.closed || await c.waitClosed(), `${JSON.stringify(body)}: no reply and no close`);
    }
    c.close();
  }
  await assertBystanderServed(1);
});

const badFrames = {
  'wrong version': () => encodeFrame({ verb: 'health' }, { version: 99 }),
  'reply type in a request': () => encodeFrame({ verb: 'health' }, { type: FRAME_REPLY }),
  'non-zero flags': () => encodeFrame({ verb: 'health' }, { flags: 1 }),
  'zero length': () => encodeFrame(Buffer.alloc(0)),
  'length over the cap': () => encodeFrame(Buffer.alloc(16, 0x20), { length: FRAME_MAX + 1 }),
  'length 4 GiB - 1': () => encodeFrame(Buffer.alloc(16, 0x20), { length: 0xffffffff }),
  'body not JSON': () => encodeFrame(Buffer.from('{"verb": "health"')),
  'body with NUL': () => encodeFrame(Buffer.from('{"verb":"hea\u0000lth"}')),
  'body not UTF-8': () => encodeFrame(Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d])),
  'trailing bytes inside the frame': () => encodeFrame(Buffer.from('{"verb":"health"} garbage')),
};

for (const [name, make] of Object.entries(badFrames)) {
  test(`bad frame (${name}) closes that connection only`, async () => {
    const c = await open();
    c.send(make());
    const rep = await c.next(3000);
    if (rep) assert.notEqual(rep.body.ok, true, `a bad frame was served: ${JSON.stringify(rep.body)}`);
    assert.ok(await c.waitClosed(3000), 'the daemon should close a connection that sent a bad frame');
    c.close();
    await assertBystanderServed(2);
  });
}

test('a truncated frame and a vanished peer do not hurt the daemon', async () => {
  const c = await open();
  c.send(encodeFrame({ verb: 'health' }).subarray(0, 7));
  c.close();
  const d = await open();
  d.send(encodeFrame({ verb: 'health' }, { length: 1000 }).subarray(0, 30));
  d.close();
  await assertBystanderServed(3);
});

test('after all that the daemon is alive and issues tokens through nginx', async () => {
  assert.ok(stack.daemonAlive());
  assertToken(await stack.token(app, 'transcribe'), ['openid', 'transcribe']);
  bystander.close();
});
