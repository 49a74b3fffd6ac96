// The proxy's path rule matches at a path segment boundary (issue 7): a rule "/interactions"
// allows "/interactions" and "/interactions/…", never "/interactionsX"; a rule ending in "/"
// allows only what is below it. Refusals are 403 and reach no upstream.
import assert from 'node:assert/strict';
import { test, useStack } from '../lib/runner.mjs';

const stack = useStack({ cortiApi: true });
let app;

test('setup: a backend whose rule is GET on /interactions and /echo/', async () => {
  const r = await stack.ctl(['--json', 'app', 'add', 'rules', '--connection', 'demo', '--flow', 'client_credentials',
    '--kind', 'backend', '--scopes', 'transcribe streams', '--proxy-methods', 'GET', '--proxy-paths', '/interactions /echo/']);
  app = JSON.parse(r.stdout);
  assert.ok(app.client_secret);
});

const get = (path) => stack.http('GET', `/api/v1/proxy/demo${path}`, { basic: [app.client_id, app.client_secret] });

test('a prefix allows itself and what is below it, at a segment boundary only', async () => {
  for (const path of ['/interactions', '/interactions/', '/interactions/abc']) {
    const r = await get(path);
    assert.notEqual(r.status, 403, `${path}: ${r.status} ${r.body}`);
  }
  await stack.cortiReset();
  for (const path of ['/interactionsX', '/interactions-all', '/interactions.json', '/echo', '/echoes/x']) {
    const r = await get(path);
    assert.equal(r.status, 403, `${path} was let through: ${r.status} ${r.body}`);
  }
  assert.equal((await stack.cortiRequests()).length, 0, 'a refused path reached the upstream');
  const below = await get('/echo/x');
  assert.notEqual(below.status, 403, below.body);
});
