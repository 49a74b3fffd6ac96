// Which app received which shared token is recorded fail-closed (SPEC §5.6, as the audit record
// is): in a cluster the nodes share tokens through the database, and a token two apps received is
// neither app's credential on the proxy only if every node's token_issued row is there. So a token
// leaves a node only once its token_issued row is durable, committed with its audit record; when
// that insert fails the node refuses the issuance. Made to fail here by a trigger that refuses
// the rows of one app (X) on node A; node B hands the same stored token to app Y.
//
// Always on PostgreSQL (a cluster needs it; on SQLite there is one node and no such row).
import assert from 'node:assert/strict';
import { test, before, after, useStack } from '../lib/runner.mjs';
import { Stack } from '../lib/stack.mjs';

const a = useStack({ storage: 'postgresql', cortiApi: true });
let b;
before(async () => {
  b = new Stack({ storage: 'postgresql', peerOf: a });
  await b.start();
});
after(async () => {
  if (b) await b.stop().catch(() => {});
});

const SCOPE = 'transcribe streams interactions';
const PROXY = ['--proxy-methods', 'GET', '--proxy-paths', '/interactions'];
const proxy = (node, token) => node.http('GET', '/api/v1/proxy/demo/interactions/',
  { headers: { authorization: `Bearer ${token}` } });
// The apps the cluster knows received a token (only one token is in play here).
const issuedTo = () => a.sql(`SELECT string_agg(p.name, ',' ORDER BY p.name) FROM token_issued t
  JOIN apps p ON p.id = t.app_id`);

let x;
let y;

test('setup: apps X and Y on one connection and scope set, both allowed on the proxy; X\'s rows refused', async () => {
  x = await a.addApp('issued-x', { scopes: SCOPE, extraArgs: PROXY });
  y = await a.addApp('issued-y', { scopes: SCOPE, extraArgs: PROXY });
  await a.sql(`CREATE FUNCTION test_refuse_issued() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
    IF NEW.app_id = (SELECT id FROM apps WHERE name = 'issued-x') THEN
      RAISE EXCEPTION 'test: the token_issued row of issued-x is refused'; END IF;
    RETURN NEW; END $$;
    CREATE TRIGGER test_refuse_issued BEFORE INSERT ON token_issued FOR EACH ROW
    EXECUTE FUNCTION test_refuse_issued()`);
});

let t;

test('A cannot record that X received the token: A refuses X the token instead of handing it out', async () => {
  const rx = await a.token(x, SCOPE);
  assert.notEqual(rx.status, 200, `A handed X a token whose token_issued row was not written: ${rx.body}`);
  // the row is written in the issuance's audit commit: that commit failed, as an audit failure does
  assert.equal(rx.status, 500, rx.body);
  assert.equal(JSON.parse(rx.body).error, 'server_error');
  assert.doesNotMatch(rx.body, /access_token/);
  // A fetched the token and stored it for the cluster before the refusal: B hands it to Y
  const ry = await b.token(y, SCOPE);
  assert.equal(ry.status, 200, ry.body);
  t = JSON.parse(ry.body).access_token;
  const rows = await a.sql("SELECT count(*) FROM token_issued WHERE app_id = (SELECT id FROM apps WHERE name = 'issued-x')");
  assert.equal(rows, '0');
  // only Y holds it, so it is Y's credential on B's proxy
  const onB = await proxy(b, t);
  assert.equal(onB.status, 200, `Y's token, Y alone received it: ${onB.status} ${onB.body}`);
});

test('once X\'s row can be written, X receives the same token and it is neither app\'s credential', async () => {
  await a.sql('DROP TRIGGER test_refuse_issued ON token_issued');
  const rx = await a.token(x, SCOPE);
  assert.equal(rx.status, 200, rx.body);
  assert.equal(JSON.parse(rx.body).access_token, t, 'A served another token than the one it stored');
  assert.equal(await issuedTo(), 'issued-x,issued-y', 'the cluster does not know both apps received the token');
  for (const node of [a, b]) {
    const r = await proxy(node, t);
    assert.equal(r.status, 401, `a token X and Y received still stands for one of them: ${r.status} ${r.body}`);
    assert.match(r.body, /several apps/);
  }
});
