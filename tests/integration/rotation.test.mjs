// SPEC §5.8: rotation never leaves a connection without a working secret.
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken } from '../lib/oauth-assert.mjs';
import { randomSecret } from '../lib/util.mjs';
import { startLoad } from '../lib/load.mjs';

const stack = useStack();
let app;
let rotationTail = '';

async function upstreamCount() {
  return (await stack.upstreamStats()).token_requests;
}

test('a wrong new secret is refused (verified upstream first) and the old one keeps working', async () => {
  app = await stack.addApp('svc', { scopes: 'transcribe streams interactions' });
  const warm = assertToken(await stack.token(app, 'transcribe'), ['openid', 'transcribe']);
  const before = await upstreamCount();
  const r = await stack.ctl(['connection', 'rotate', 'demo'], { stdin: `${randomSecret('FGWRONG')}\n`, expect: null });
  assert.notEqual(r.code, 0, `rotation to a wrong secret succeeded: ${r.stdout}`);
  assert.ok(r.stderr.trim().length > 0, 'the refusal should say why on stderr');
  assert.ok(await upstreamCount() > before, 'the new secret was not tried against the upstream');
  // the old secret still works upstream: a cold scope set forces a real upstream request
  const n = await upstreamCount();
  assertToken(await stack.token(app, 'streams'), ['openid', 'streams']);
  assert.equal(await upstreamCount(), n + 1, 'the cold request should have gone upstream');
  // and the cached token was not thrown away by the failed attempt
  assert.equal(assertToken(await stack.token(app, 'transcribe')).access_token, warm.access_token);
});

test('an empty new secret is refused', async () => {
  const r = await stack.ctl(['connection', 'rotate', 'demo'], { stdin: '', expect: null });
  assert.notEqual(r.code, 0);
  assertToken(await stack.token(app, 'transcribe'), ['openid', 'transcribe']);
});

test('rotation with the right secret under ~200 requests/s: zero failed requests', async () => {
  const scopes = ['transcribe', 'streams', 'transcribe streams'];
  const cachedBefore = {};
  for (const s of scopes) cachedBefore[s] = assertToken(await stack.token(app, s)).access_token; // warm
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  let i = 0;
  let res;
  const load = startLoad(() => stack.token(app, scopes[i++ % scopes.length], { agent }), { rate: 200, concurrency: 8, maxMs: 30000 });
  try {
    await new Promise((r) => setTimeout(r, 400));
    // the upstream switches to the new secret (like Keycloak's "regenerate secret"): from now on
    // only the cache covers the old one, until flowgate is told the new one
    const newSecret = randomSecret('FGNEW');
    await stack.upstreamSetSecret(newSecret);
    await new Promise((r) => setTimeout(r, 200));
    const rot = await stack.ctl(['connection', 'rotate', 'demo'], { stdin: `${newSecret}\n` });
    assert.equal(rot.code, 0);
    // the rotation record is among the newest ones (the load keeps adding issuance records)
    rotationTail = (await stack.ctl(['audit', 'tail', '-n', '100'])).stdout;
    await new Promise((r) => setTimeout(r, 1000));
  } finally {
    res = await load.stop();
    agent.destroy();
  }
  process.stdout.write(`# ${res.total} requests in ${res.elapsedMs} ms during the rotation\n`);
  assert.ok(res.total >= 150, `only ${res.total} requests were made`);
  assert.equal(res.failed.length, 0,
    `${res.failed.length} failed, first: ${JSON.stringify(res.failed[0])}`);
  // the cache of the rotated connection was dropped: fresh tokens now (fetched with the new secret)
  for (const s of scopes) {
    const j = assertToken(await stack.token(app, s));
    assert.notEqual(j.access_token, cachedBefore[s], `scope "${s}": still the token from before the rotation`);
  }
  // a cold scope set goes upstream with the new secret and works
  const n = await upstreamCount();
  assertToken(await stack.token(app, 'interactions'), ['openid', 'interactions']);
  assert.equal(await upstreamCount(), n + 1);
});

test('the rotation is in the audit log and the chain verifies', async () => {
  assert.match(rotationTail, /rotat/i, 'no rotation record in the audit tail taken right after the rotation');
  const v = await stack.ctl(['audit', 'verify']);
  assert.match(v.stdout, /audit chain ok: \d+ records/);
});

test('audit tail -n 1000 answers after hundreds of records (no reply over the frame cap)', async () => {
  const r = await stack.ctl(['audit', 'tail', '-n', '1000'], { timeoutMs: 10000 });
  assert.ok(r.stdout.split('\n').length > 100, 'expected hundreds of records');
});
