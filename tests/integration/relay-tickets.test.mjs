// Relay tickets (issue 9): an app backend asks POST /api/v1/relay-tickets for a single-use,
// short-lived ticket bound to its connection, the relay kind and the interaction; a browser on
// another origin opens /ws/{connection}/... with ?ticket=. Checks: frames relayed through a ticket's
// relay; a replay, an expired ticket, a ticket for another connection or relay, a ticket of a
// revoked app or one used during (or issued before) an emergency stop are refused; a full table
// refuses clearly; issue and use are audited; neither the ticket nor the upstream token reaches
// the upstream's query from the caller, nor any log.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import WebSocket from 'ws';
import { test, useStack } from '../lib/runner.mjs';
import { sleep, waitFor, NGINX_USER } from '../lib/stack.mjs';
import { basicAuth } from '../lib/util.mjs';

const TICKETS_MAX = 6;
const stack = useStack({ cortiApi: true, relayConfig: { tickets_max: TICKETS_MAX, ticket_lifetime_s: 30 } });
const issued = [];	// every ticket value seen, for the log scan
let app;
let narrow;
let gone;

const addApp = async (name, scopes, connection = 'demo') => JSON.parse((await stack.ctl(['--json', 'app', 'add', name,
  '--connection', connection, '--flow', 'client_credentials', '--kind', 'backend', '--scopes', scopes,
  '--proxy-methods', 'GET POST', '--proxy-paths', '/interactions'])).stdout);

/** POST /api/v1/relay-tickets as the app a; the answer, with its JSON. */
async function ask(a, body) {
  const r = await stack.http('POST', '/api/v1/relay-tickets', {
    basic: a ? [a.client_id, a.client_secret] : undefined,
    headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  let json = null;
  try { json = JSON.parse(r.body); } catch { /* below */ }
  if (json && json.ticket) issued.push(json.ticket);
  return { ...r, json };
}

async function ticket(a, body = { connection: 'demo', kind: 'transcribe' }) {
  const r = await ask(a, body);
  assert.equal(r.status, 201, r.body);
  return r.json.ticket;
}

/** Open a relay; resolves {ws} once open, or {status, body} when the upgrade is refused. */
function open(path, headers = {}, protocols = undefined) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${stack.nginxPort}${path}`, protocols, { headers, perMessageDeflate: false });
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    ws.once('error', (err) => resolve({ error: err.message }));
  });
}

const next = (ws) => new Promise((resolve) => ws.once('message', (data, binary) => resolve({ data, binary })));
const audit = async () => JSON.parse((await stack.ctl(['--json', 'audit', 'tail', '-n', '300'])).stdout).records;

test('setup: a backend allowed transcribe and streams, one only transcribe, a second connection', async () => {
  app = await addApp('ticket-app', 'transcribe streams');
  narrow = await addApp('ticket-narrow', 'transcribe');
  await stack.addConnection('other');
});

test('issue -> open with ?ticket= -> frames relayed; the upstream sees neither the ticket nor the caller\'s query', async () => {
  const r = await ask(app, { connection: 'demo', kind: 'transcribe' });
  assert.equal(r.status, 201, r.body);
  assert.match(r.json.ticket, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(r.json.expires_in, 30);
  assert.deepEqual(Object.keys(r.json).sort(), ['expires_in', 'ticket']);
  const { ws, status } = await open(`/ws/demo/transcribe?ticket=${r.json.ticket}`, { origin: 'https://app.example' });
  assert.ok(ws, `refused ${status}`);
  ws.send(JSON.stringify({ type: 'config', configuration: { primaryLanguage: 'en' } }));
  assert.equal(JSON.parse((await next(ws)).data).type, 'CONFIG_ACCEPTED');
  const chunk = Buffer.alloc(4000, 3);
  ws.send(chunk);
  // the stand-in answers each audio chunk with a transcript naming its size and hash
  const m = JSON.parse((await next(ws)).data);
  assert.equal(m.type, 'transcript');
  assert.equal(m.data.text, `chunk 1: 4000 bytes sha256 ${createHash('sha256').update(chunk).digest('hex')}`);
  ws.close();
  const up = (await stack.cortiUpgrades()).pop();
  assert.equal(up.path, '/audio-bridge/v2/transcribe');
  assert.deepEqual(Object.keys(up.query).sort(), ['tenant-name', 'token']);
  assert.ok(!JSON.stringify(up).includes(r.json.ticket), 'the upstream saw the ticket');
  // audited: the issue (with the ticket's fingerprint) and the opening naming that fingerprint
  const recs = await audit();
  const iss = recs.filter((x) => x.event === 'relay.ticket' && x.outcome === 'issued' && x.app === 'ticket-app').pop();
  assert.ok(iss && /^sha256:[0-9a-f]{32}$/.test(iss.token_fp), JSON.stringify(iss));
  assert.equal(iss.actor, `app:${app.client_id}`);
  const op = recs.filter((x) => x.event === 'relay.open' && x.app === 'ticket-app').pop();
  assert.ok(op && op.detail.includes(`ticket=${iss.token_fp}`), JSON.stringify(op));
  assert.match(op.detail, /request=[0-9a-f]{32}/);
});

test('streams of an interaction with a ticket bound to it', async () => {
  const created = await stack.http('POST', '/api/v1/proxy/demo/interactions/', {
    basic: [app.client_id, app.client_secret], headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ encounter: { identifier: 'tk', status: 'planned', type: 'first_consultation' } }),
  });
  const id = JSON.parse(created.body).interactionId;
  const t = await ticket(app, { connection: 'demo', kind: 'streams', interaction: id });
  const { ws, status } = await open(`/ws/demo/streams/${id}?ticket=${t}`);
  assert.ok(ws, `refused ${status}`);
  ws.send(JSON.stringify({ type: 'config', configuration: {} }));
  const acc = JSON.parse((await next(ws)).data);
  assert.equal(acc.type, 'CONFIG_ACCEPTED');
  assert.equal(acc.sessionId, undefined, 'a transcribe socket answered, not the streams one');
  ws.send(Buffer.alloc(10, 1));
  assert.ok(Array.isArray(JSON.parse((await next(ws)).data).data), 'not a streams transcript');
  ws.close();
});

test('the ticket as a WebSocket subprotocol (what a browser can send): nginx answers flowgate.relay, the upstream sees none', async () => {
  const t = await ticket(app);
  const { ws, status } = await open('/ws/demo/transcribe', {}, ['flowgate.relay', `flowgate-ticket.${t}`]);
  assert.ok(ws, `refused ${status}`);
  assert.equal(ws.protocol, 'flowgate.relay');
  ws.send(JSON.stringify({ type: 'config', configuration: {} }));
  assert.equal(JSON.parse((await next(ws)).data).type, 'CONFIG_ACCEPTED');
  ws.close();
  const up = (await stack.cortiUpgrades()).pop();
  assert.equal(up.headers['sec-websocket-protocol'], undefined);
  assert.ok(!JSON.stringify(up).includes(t), 'the upstream saw the ticket');
  assert.equal((await open('/ws/demo/transcribe', {}, ['flowgate.relay', `flowgate-ticket.${t}`])).status, 401, 'replayed');
  // other subprotocols still pass through both ways
  const other = await open('/ws/demo/transcribe', { authorization: basicAuth(app.client_id, app.client_secret) }, ['corti.v1']);
  assert.ok(other.ws, `refused ${other.status}`);
  assert.equal(other.ws.protocol, 'corti.v1');
  other.ws.close();
  assert.equal((await stack.cortiUpgrades()).pop().headers['sec-websocket-protocol'], 'corti.v1');
});

test('single use: a replay is refused 401', async () => {
  const t = await ticket(app);
  const first = await open(`/ws/demo/transcribe?ticket=${t}`);
  assert.ok(first.ws, `refused ${first.status}`);
  first.ws.close();
  const again = await open(`/ws/demo/transcribe?ticket=${t}`);
  assert.equal(again.status, 401);
  assert.match(again.body, /unknown or was used already/);
  assert.equal((await open('/ws/demo/transcribe?ticket=not-a-ticket-at-all')).status, 401);
});

test('bound to connection, relay kind and interaction: any other use is refused 403, and the ticket is gone', async () => {
  const cases = [
    [{ connection: 'demo', kind: 'transcribe' }, '/ws/other/transcribe'],
    [{ connection: 'demo', kind: 'transcribe' }, '/ws/demo/streams/abc'],
    [{ connection: 'demo', kind: 'streams', interaction: 'abc' }, '/ws/demo/streams/abd'],
    [{ connection: 'demo', kind: 'streams', interaction: 'abc' }, '/ws/demo/transcribe'],
  ];
  for (const [body, path] of cases) {
    const t = await ticket(app, body);
    const r = await open(`${path}?ticket=${t}`);
    assert.equal(r.status, 403, `${JSON.stringify(body)} at ${path}: ${r.status} ${r.body}`);
    assert.match(r.body, /issued for another connection, relay or interaction/);
    const right = body.kind === 'transcribe' ? '/ws/demo/transcribe' : '/ws/demo/streams/abc';
    assert.equal((await open(`${right}?ticket=${t}`)).status, 401, 'a refused use did not consume the ticket');
  }
});

test('expired: a ticket asked for 1 s is refused after 2 s', async () => {
  const r = await ask(app, { connection: 'demo', kind: 'transcribe', expires_in: 1 });
  assert.equal(r.status, 201, r.body);
  assert.equal(r.json.expires_in, 1);
  await sleep(2100);
  const u = await open(`/ws/demo/transcribe?ticket=${r.json.ticket}`);
  assert.equal(u.status, 401);
  assert.match(u.body, /expired/);
});

test('issuing is refused: no credential, a wrong secret, another connection, a scope the app lacks, bad fields', async () => {
  assert.equal((await ask(null, { connection: 'demo', kind: 'transcribe' })).status, 401);
  assert.equal((await ask({ ...app, client_secret: 'nope' }, { connection: 'demo', kind: 'transcribe' })).status, 401);
  const other = await ask(app, { connection: 'other', kind: 'transcribe' });
  assert.equal(other.status, 403, other.body);
  const scope = await ask(narrow, { connection: 'demo', kind: 'streams', interaction: 'abc' });
  assert.equal(scope.status, 400, scope.body);
  assert.equal(scope.json.error, 'invalid_scope');
  for (const body of [{ connection: 'demo', kind: 'video' }, { connection: 'demo', kind: 'streams' },
    { connection: 'demo', kind: 'transcribe', interaction: 'x' }, { connection: 'demo', kind: 'transcribe', expires_in: 31 },
    { connection: 'demo', kind: 'transcribe', expires_in: 0 }, { connection: 'demo', kind: 'transcribe', expires_in: '5' }, {}]) {
    const r = await ask(app, body);
    assert.equal(r.status, 400, `${JSON.stringify(body)}: ${r.status} ${r.body}`);
  }
  const notJson = await stack.http('POST', '/api/v1/relay-tickets', { basic: [app.client_id, app.client_secret], form: { kind: 'transcribe' } });
  assert.equal(notJson.status, 415);
});

test('a ticket of an app revoked after issuing is refused', async () => {
  gone = await addApp('ticket-gone', 'transcribe');
  const t = await ticket(gone);
  await stack.ctl(['app', 'revoke', 'ticket-gone']);
  const r = await open(`/ws/demo/transcribe?ticket=${t}`);
  assert.equal(r.status, 401, r.body);
  assert.match(r.body, /revoked/);
  assert.equal((await ask(gone, { connection: 'demo', kind: 'transcribe' })).status, 401);
});

test('emergency stop: the stop forgets the connection\'s tickets (401 during and after it); issuing is refused 503 during it', async () => {
  const during = await ticket(app);
  const after = await ticket(app);
  await stack.ctl(['connection', 'stop', 'demo']);
  try {
    const r = await open(`/ws/demo/transcribe?ticket=${during}`);
    assert.equal(r.status, 401, r.body);
    assert.equal((await ask(app, { connection: 'demo', kind: 'transcribe' })).status, 503);
  } finally {
    await stack.ctl(['connection', 'resume', 'demo']);
  }
  assert.equal((await open(`/ws/demo/transcribe?ticket=${after}`)).status, 401);
  const fresh = await open(`/ws/demo/transcribe?ticket=${await ticket(app)}`);
  assert.ok(fresh.ws, `refused ${fresh.status} after resume`);
  fresh.ws.close();
});

test(`a full table (tickets_max = ${TICKETS_MAX}) refuses new tickets with 503 and says why; a used ticket frees its place`, async () => {
  const held = [];
  let refused = null;
  for (let i = 0; i <= TICKETS_MAX && !refused; i++) {
    const r = await ask(app, { connection: 'demo', kind: 'transcribe' });
    if (r.status === 201) held.push(r.json.ticket);
    else refused = r;
  }
  assert.ok(refused, `${TICKETS_MAX + 1} tickets issued with tickets_max ${TICKETS_MAX}`);
  assert.equal(refused.status, 503, refused.body);
  assert.match(refused.body, /relay ticket table is full/);
  assert.ok(refused.headers['retry-after'], 'no Retry-After');
  const used = await open(`/ws/demo/transcribe?ticket=${held.pop()}`);
  assert.ok(used.ws, `refused ${used.status}`);
  used.ws.close();
  held.push(await ticket(app));
  // spent on a connection they were not issued for: the table is empty again
  for (const t of held) assert.equal((await open(`/ws/other/transcribe?ticket=${t}`)).status, 403);
  const recs = await audit();
  assert.ok(recs.some((x) => x.event === 'relay.ticket' && x.outcome === 'invalid_client' && /expired/.test(x.detail)));
  assert.ok(recs.some((x) => x.event === 'relay.ticket' && x.outcome === 'forbidden' && x.app === 'ticket-app' &&
    x.actor === `app:${app.client_id}` && /^sha256:/.test(x.token_fp)));
});

// WebSocket frame sizes (RFC 6455 5.2): 2 header bytes, 2 more for 126..65535 payload bytes, 8 more
// above; a client's frames add a 4-byte mask. A close without a code is an empty frame each way.
const frame = (len, masked) => (len < 126 ? 2 : len < 65536 ? 4 : 10) + (masked ? 4 : 0) + len;

/** One relay: config, the given binary messages (each answered by a transcript), then a close; what went each way. */
async function relayRun(path, headers, sizes) {
  const { ws, status } = await open(path, headers);
  assert.ok(ws, `refused ${status}`);
  const cfg = JSON.stringify({ type: 'config', configuration: { primaryLanguage: 'en' } });
  ws.send(cfg);
  const acc = (await next(ws)).data;
  let up = frame(Buffer.byteLength(cfg), true);
  let down = frame(acc.length, false);
  for (const n of sizes) {
    ws.send(Buffer.alloc(n, 5));
    const m = await next(ws);
    assert.match(JSON.parse(m.data).data.text, new RegExp(`: ${n} bytes `));
    up += frame(n, true);
    down += frame(m.data.length, false);
  }
  await new Promise((resolve) => { ws.once('close', resolve); ws.close(); });
  return { up: up + frame(0, true), down: down + frame(0, false) };
}

const closes = async () => (await audit()).filter((x) => x.event === 'relay.close');
const ridOf = (rec) => (/request=([0-9a-f]{32})/.exec(rec.detail) || [])[1];
const field = (rec, k) => Number((new RegExp(`${k}=(\\d+)`).exec(rec.detail) || [])[1]);

test('relay.close: status, bytes each way and duration, the same actor as relay.open, linked by the request id', async () => {
  const before = (await closes()).length;
  const a = await relayRun('/ws/demo/transcribe', { authorization: basicAuth(app.client_id, app.client_secret) }, []);
  const b = await relayRun(`/ws/demo/transcribe?ticket=${await ticket(app)}`, {}, [1000, 1000, 300, 70000]);
  const recs = await waitFor(async () => { const c = await closes(); return c.length >= before + 2 && c; },
    { timeoutMs: 10000, what: 'two relay.close records' });
  const [ca, cb] = recs.slice(-2);
  const opens = (await audit()).filter((x) => x.event === 'relay.open');
  for (const [c, sent] of [[ca, a], [cb, b]]) {
    const o = opens.find((x) => ridOf(x) === ridOf(c));
    assert.ok(ridOf(c) && o, `relay.close ${c.detail} names no relay.open's request id`);
    assert.equal(c.actor, o.actor);
    assert.equal(c.app, 'ticket-app');
    assert.equal(c.connection, 'demo');
    assert.equal(c.outcome, 'closed');
    assert.match(c.detail, /status=101 /);
    assert.ok(field(c, 'duration_ms') >= 0);
    // nginx counts exactly the frames it sent the caller
    assert.equal(field(c, 'to_client'), sent.down, c.detail);
  }
  assert.match(cb.detail, /ticket=sha256:[0-9a-f]{32}/);
  // toward the upstream nginx counts its upgrade request (the same for both: same token, same
  // headers upstream) and then exactly the caller's frames
  const head = field(ca, 'to_upstream') - a.up;
  assert.equal(field(cb, 'to_upstream') - b.up, head, `${ca.detail} / ${cb.detail}`);
  assert.ok(head > 300 && head < 4096, `the upgrade request upstream counts ${head} bytes`);
});

test('the relay log socket hears only [relay] log_users and refuses malformed lines', async () => {
  const sock = stack.paths.relayLogSocket;
  const st = statSync(sock);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o660, 'the relay log socket is not 0660');
  assert.equal(st.uid, stack.users.daemon.uid);
  assert.equal(st.gid, stack.users.nginx.gid);
  const send = (user, line) => execFileSync('runuser', ['-u', user, '--', 'perl', '-MSocket', '-e',
    'socket(my $s, AF_UNIX, SOCK_DGRAM, 0) or die "socket: $!"; send($s, $ARGV[1], 0, pack_sockaddr_un($ARGV[0])) or die "send: $!"',
    sock, line]);
  const rid = 'ab'.repeat(16);
  const line = (r) => `<190>Nov 29 21:00:00 flowgate: relay ${r} 101 10 20 1.500`;
  const before = (await closes()).length;
  send('root', line(rid));	// root is not in log_users: ignored
  send(NGINX_USER, 'relay garbage');
  send(NGINX_USER, line('cd'.repeat(16)));	// heard: an opening flowgate did not note
  const c = await waitFor(async () => (await closes()).slice(before).find((x) => x.detail.includes('cd'.repeat(16))),
    { what: 'the relay.close of the heard line' });
  assert.equal(c.actor, '-');
  assert.match(c.detail, /to_client=10 to_upstream=20 duration_ms=1500/);
  assert.ok(!(await closes()).some((x) => x.detail.includes(rid)), 'a line from root was recorded');
  assert.match(stack.readLogs().daemon, /not in \[relay\] log_users, or not a relay log line/);
});

test('with flowgate-fcgi down, nginx\'s error log does not print the relay\'s query (the ticket); it does print the proxy\'s', async () => {
  const t = await ticket(app);
  await stack.procs.fcgi.stop();
  try {
    assert.equal((await open(`/ws/demo/transcribe?ticket=${t}`)).status, 401);
    // the same failure on the data plane is logged with its query: the check below can see one
    assert.equal((await stack.http('GET', '/api/v1/proxy/demo/interactions/?marker=fcgi-down-probe')).status, 401);
  } finally {
    await stack.startFcgi();
  }
  const log = stack.readLogs().nginxError;
  assert.match(log, /marker=fcgi-down-probe/);
  assert.ok(!log.includes(t), 'nginx\'s error log holds the ticket');
});

test('no ticket and no upstream token in any log or file of the stack', async () => {
  assert.ok(issued.length >= 15, `only ${issued.length} tickets seen`);
  const files = stack.instanceFiles().filter((f) => f !== stack.paths.upstreamSecretFile);
  const tokens = (await stack.cortiUpgrades()).map((u) => (u.query.token || '').replace(/^Bearer /, '')).filter(Boolean);
  assert.ok(tokens.length >= 3);
  for (const f of files) {
    const buf = readFileSync(f);
    for (const t of issued) assert.equal(buf.indexOf(Buffer.from(t)), -1, `${f} holds a relay ticket`);
    for (const t of tokens) assert.equal(buf.indexOf(Buffer.from(t.split('.')[2])), -1, `${f} holds an upstream token`);
  }
});
