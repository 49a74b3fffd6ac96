#!/usr/bin/env node
// Run as the web user: send N logins with wrong passwords back to back on one connection, then a
// token request on another; print the order in which the replies arrived as one JSON line.
// The token must not wait behind the password checks.
import { FrameConn, encodeFrame } from './frame.mjs';

const [sock, n, clientId, clientSecret] = [process.argv[2], Number(process.argv[3]), process.argv[4], process.argv[5]];
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
process.stdout.write(`${JSON.stringify(order)}\n`);
