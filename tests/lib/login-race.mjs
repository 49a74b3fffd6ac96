#!/usr/bin/env node
// Run as the web user (under setpriv).  Two forms:
//
//   login-race.mjs SOCK N CLIENT_ID CLIENT_SECRET
//     send N logins with wrong passwords back to back on one connection, then a token request
//     on another; print the order in which the replies arrived as one JSON line.  The token
//     must not wait behind the password checks.
//
//   login-race.mjs SOCK --plan JSON        (or --plan - to read JSON from stdin)
//     JSON is {requests: [...], window?: K, token?: {client_id, client_secret, scope},
//     delay_ms?: 20}: send the requests pipelined on one connection (at most K unanswered at a
//     time; default all of them before any answer), and, delay_ms after the first, the token
//     request on a second connection.  Prints {replies: [{body, ms}] in request order,
//     token: {body, ms} | null, order: ["r0", "token", ...]} where ms is the time since the
//     first request was sent.
import { FrameConn, encodeFrame } from './frame.mjs';

const TIMEOUT_MS = 60000;

/** The first form: N wrong logins, then a token; the order of the answers. */
async function race(sock, n, clientId, clientSecret) {
  const logins = await FrameConn.open(sock);
  const tokens = await FrameConn.open(sock);
  const order = [];
  for (let i = 0; i < n; i++) {
    logins.send(encodeFrame({ verb: 'login', user: `nobody${i}`, password: 'wrong-password-here', remote: `10.77.0.${i + 1}` }, { id: i + 1 }));
  }
  await new Promise((r) => setTimeout(r, 20));
  const tokenReply = tokens.call({ verb: 'token', client_id: clientId, client_secret: clientSecret, grant_type: 'client_credentials', scope: 'streams' }, { id: 1, timeoutMs: 30000 })
    .then((rep) => { order.push(rep && rep.body.ok ? 'token' : 'token-failed'); });
  for (let i = 0; i < n; i++) {
    const rep = await logins.next(30000);
    order.push(rep && rep.body.error === 'login_failed' ? 'login' : `login-${rep ? rep.body.error : 'none'}`);
  }
  await tokenReply;
  logins.close();
  tokens.close();
  return order;
}

/** The second form: a pipelined plan of requests and an optional token request beside it. */
async function plan(sock, p) {
  const conn = await FrameConn.open(sock);
  const reqs = p.requests;
  const window = p.window || reqs.length;
  const replies = new Array(reqs.length).fill(null);
  const order = [];
  const t0 = Date.now();
  let sent = 0;
  const sendNext = () => { conn.send(encodeFrame(reqs[sent], { id: sent + 1 })); sent++; };
  while (sent < Math.min(window, reqs.length)) sendNext();
  let token = null;
  const tokenDone = p.token ? (async () => {
    await new Promise((r) => setTimeout(r, p.delay_ms ?? 20));
    const tc = await FrameConn.open(sock);
    const rep = await tc.call({ verb: 'token', grant_type: 'client_credentials', ...p.token }, { id: 1, timeoutMs: TIMEOUT_MS });
    token = { body: rep ? rep.body : null, ms: Date.now() - t0 };
    order.push('token');
    tc.close();
  })() : Promise.resolve();
  for (let got = 0; got < reqs.length; got++) {
    const rep = await conn.next(TIMEOUT_MS);
    if (!rep) break;
    replies[rep.hdr.id - 1] = { body: rep.body, ms: Date.now() - t0 };
    order.push(`r${rep.hdr.id - 1}`);
    if (sent < reqs.length) sendNext();
  }
  await tokenDone;
  conn.close();
  return { replies, token, order };
}

/** All of stdin as a string. */
async function stdin() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

const sock = process.argv[2];
const out = process.argv[3] === '--plan'
  ? await plan(sock, JSON.parse(process.argv[4] === '-' ? await stdin() : process.argv[4]))
  : await race(sock, Number(process.argv[3]), process.argv[4], process.argv[5]);
process.stdout.write(`${JSON.stringify(out)}\n`);
