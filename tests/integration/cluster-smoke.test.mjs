// Two nodes on one PostgreSQL: a registration made on one serves tokens on the other.
import assert from 'node:assert/strict';
import { test, useStack, after } from '../lib/runner.mjs';
import { Stack } from '../lib/stack.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';

const a = useStack({ storage: 'postgresql' });
let b;
after(async () => { if (b) await b.stop(); });

test('a second node joins and serves an app registered on the first', async () => {
  b = new Stack({ storage: 'postgresql', peerOf: a });
  await b.start();
  const app = await a.addApp('svc', { scopes: 'transcribe streams' });
  assertToken(await b.token(app, 'streams'));
  assertToken(await a.token(app, 'streams'));
  for (let i = 0; i < 5; i++) { assertToken(await a.token(app, 'transcribe')); assertToken(await b.token(app, 'transcribe')); }
  const v = await a.ctl(['audit', 'verify'], { expect: null });
  assert.equal(v.code, 0, v.stdout + v.stderr);
});
