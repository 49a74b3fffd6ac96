// SPEC §5.1: a stored client secret never appears in logs, HTTP answers, the database file,
// its -wal/-shm files, command output or process arguments.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { test, useStack } from '../lib/runner.mjs';
import { assertToken, assertRefused } from '../lib/oauth-assert.mjs';
import { randomSecret, secretNeedles, findNeedles } from '../lib/util.mjs';

const stack = useStack();
const answers = [];
stack.onResponse = (r) => answers.push(r);
const ctlOutputs = [];
let app;
let newSecret;

function needles() {
  const list = [...secretNeedles(stack.connectionSecret).map((n) => ({ ...n, how: `connection secret (${n.how})` }))];
  if (newSecret) list.push(...secretNeedles(newSecret).map((n) => ({ ...n, how: `rotated secret (${n.how})` })));
  return list;
}

async function ctl(args, o) {
  const r = await stack.ctl(args, o);
  ctlOutputs.push({ args, out: `${r.stdout}\n${r.stderr}` });
  return r;
}

function assertClean(what, buf) {
  const found = findNeedles(Buffer.isBuffer(buf) ? buf : Buffer.from(buf), needles());
  assert.deepEqual(found, [], `${what} contains ${found.join(', ')}`);
}

function psArgs() {
  return execFileSync('ps', ['-eo', 'pid,args', '--no-headers'], { encoding: 'utf8', maxBuffer: 16 << 20 });
}

const psSnapshots = [];

test('activity: tokens, refusals, admin commands and a rotation', async () => {
  // the secret really was stored and works upstream
  app = await stack.addApp('svc', { scopes: 'transcribe streams interactions' });
  psSnapshots.push(psArgs());
  assertToken(await stack.token(app, 'transcribe'), ['openid', 'transcribe']);
  assertToken(await stack.token(app, 'streams', { auth: 'form' }), ['openid', 'streams']);
  assertRefused(await stack.token({ ...app, client_secret: 'wrong-wrong-wrong' }, 'streams'), 401, 'invalid_client');
  assertRefused(await stack.token(app, 'bogus'), 400, 'invalid_scope');
  await stack.http('GET', '/healthz');
  await stack.http('GET', '/metrics');
  await stack.http('GET', '/oauth2/nothing-here');
  for (const json of [false, true]) {
    await ctl(['connection', 'list'], { json });
    await ctl(['connection', 'show', 'demo'], { json });
    await ctl(['status'], { json });
    await ctl(['audit', 'tail', '-n', '100'], { json });
  }
  // rotation: the upstream learns a new secret, flowgate is told through stdin
  newSecret = randomSecret('FGROTATED');
  await stack.upstreamSetSecret(newSecret);
  const rot = ctl(['connection', 'rotate', 'demo'], { stdin: `${newSecret}\n` });
  psSnapshots.push(psArgs()); // while flowgatectl is (probably) still running
  await rot;
  assertToken(await stack.token(app, 'interactions'), ['openid', 'interactions']); // cold: uses the new secret
  await ctl(['connection', 'show', 'demo'], { json: true });
  await ctl(['audit', 'tail', '-n', '100'], { json: true });
  psSnapshots.push(psArgs());
});

test('no HTTP answer carries a secret (headers or body)', () => {
  assert.ok(answers.length >= 8, `only ${answers.length} answers recorded`);
  for (const r of answers) {
    assertClean(`HTTP ${r.status} answer`, Buffer.concat([Buffer.from(JSON.stringify(r.headers)), r.raw]));
  }
});

test('no flowgatectl output carries a secret', () => {
  assert.ok(ctlOutputs.length >= 10);
  for (const o of ctlOutputs) assertClean(`flowgatectl ${o.args.join(' ')}`, o.out);
});

test('no process argument list carries a secret', () => {
  psSnapshots.push(psArgs());
  for (const s of psSnapshots) assertClean('ps -eo args', s);
});

const storeFiles = () => stack.storeFiles();

test('the store (the database, its -wal and -shm; or PostgreSQL\'s data files) holds no secret (and no app secret either)', () => {
  const files = storeFiles();
  assert.ok(files.length > 0);
  for (const f of files) {
    const buf = readFileSync(f);
    assertClean(f, buf);
    assert.equal(buf.indexOf(Buffer.from(app.client_secret)), -1, `${f} holds the app's client secret`);
  }
});

test('no log or other file of the instance holds a secret', () => {
  const exempt = new Set([stack.paths.upstreamSecretFile]); // the test upstream's own configuration
  const files = stack.instanceFiles().filter((f) => !exempt.has(f));
  assert.ok(files.includes(stack.paths.logs.daemon) && files.includes(stack.paths.logs.fcgi));
  for (const f of files) assertClean(f, readFileSync(f));
});

test('after a clean daemon stop (WAL checkpointed) the database still holds no secret', async () => {
  const exit = await stack.killDaemon('SIGTERM');
  assert.equal(exit.code, 0);
  if (stack.pg) stack.sql('CHECKPOINT');	// PostgreSQL's WAL into its tables too
  for (const f of storeFiles()) assertClean(f, readFileSync(f));
  await stack.startDaemon();
  assertToken(await stack.token(app, 'transcribe streams'), ['openid', 'streams', 'transcribe']);
  for (const f of stack.instanceFiles().filter((x) => x !== stack.paths.upstreamSecretFile)) assertClean(f, readFileSync(f));
});

test('no token flowgate issued is in any log or file, after the realm route and the data plane', async () => {
  const realm = await stack.http('POST', '/realms/demo/protocol/openid-connect/token', {
    form: { grant_type: 'client_credentials', client_id: app.client_id, client_secret: app.client_secret,
      scope: 'openid transcribe' },
  });
  assert.equal(realm.status, 200, realm.body);
  const tokens = new Set();
  for (const r of [...answers, realm]) {
    try { const t = JSON.parse(r.raw ? r.raw.toString() : r.body).access_token; if (t) tokens.add(t); } catch { /* not JSON */ }
  }
  assert.ok(tokens.size >= 2, `only ${tokens.size} tokens seen`);
  // the data plane with each kind of caller: the bearer, and Basic (the gate refuses: no proxy rule)
  for (const t of tokens) await stack.http('GET', '/api/v1/proxy/demo/x?y=1', { headers: { authorization: `Bearer ${t}` } });
  await stack.http('GET', '/api/v1/proxy/demo/x', { basic: [app.client_id, app.client_secret] });
  const files = stack.instanceFiles().filter((f) => f !== stack.paths.upstreamSecretFile);
  for (const f of files) {
    const buf = readFileSync(f);
    for (const t of tokens) {
      assert.equal(buf.indexOf(Buffer.from(t.split('.')[2])), -1, `${f} holds an issued token`);
    }
  }
});

test('no relay ticket is in any log or file, after it was issued, used, replayed and refused', async () => {
  const ask = (body) => stack.http('POST', '/api/v1/relay-tickets', { basic: [app.client_id, app.client_secret],
    headers: { 'content-type': 'application/json' }, body: JSON.stringify({ connection: 'demo', ...body }) });
  const tickets = [];
  for (const body of [{ kind: 'transcribe' }, { kind: 'transcribe' }, { kind: 'streams', interaction: 'x' }]) {
    const r = await ask(body);
    assert.equal(r.status, 201, r.body);
    tickets.push(JSON.parse(r.body).ticket);
  }
  // used (nginx then fails to reach this stack's upstream as a WebSocket), replayed, misused
  await stack.http('GET', `/ws/demo/transcribe?ticket=${tickets[0]}`, { headers: { upgrade: 'websocket', connection: 'Upgrade' } });
  await stack.http('GET', `/ws/demo/transcribe?ticket=${tickets[0]}`);
  await stack.http('GET', `/ws/demo/streams/x?ticket=${tickets[1]}&token=Bearer%20${tickets[2]}`);
  await stack.http('GET', `/ws/nowhere/transcribe?ticket=${tickets[2]}`);
  for (const f of stack.instanceFiles().filter((x) => x !== stack.paths.upstreamSecretFile)) {
    const buf = readFileSync(f);
    for (const t of tickets) assert.equal(buf.indexOf(Buffer.from(t)), -1, `${f} holds a relay ticket`);
  }
});
