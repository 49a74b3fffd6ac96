#!/usr/bin/env node
// The other work of bench/run's mixed phase, beside wrk's token load (SPEC §6: the token path's
// p99 stays within 2x of its quiet value while audit verification, a backup and logins run).
//
//   node bench/mixed.mjs fill SOCKET CLIENT_ID CLIENT_SECRET N
//       N audit records: the app's refused requests (a scope it may not have), pipelined
//   node bench/mixed.mjs load SOCKET BASE_URL SECONDS USER PASSWORD BACKUP_PATH
//       for SECONDS: full audit verifications back to back, one backup, 20 admin logins a
//       second through nginx (every other one with a wrong password); prints one JSON line
import { FrameConn, encodeFrame } from '../tests/lib/frame.mjs';

const [mode, sock, ...rest] = process.argv.slice(2);

async function fill(clientId, secret, n) {
  const c = await FrameConn.open(sock);
  const req = { verb: 'token', client_id: clientId, client_secret: secret,
    grant_type: 'client_credentials', scope: 'transcribe' };
  for (let i = 0; i < n; i += 2000) {
    const k = Math.min(2000, n - i);
    c.send(Buffer.concat(Array.from({ length: k }, (_, j) => encodeFrame(req, { id: i + j + 1 }))));
    for (let j = 0; j < k; j++) await c.next(60000);
  }
  c.close();
  console.log(JSON.stringify({ filled: n }));
}

async function login(base, user, password) {
  const body = new URLSearchParams({ user, password }).toString();
  const r = await fetch(`${base}/admin/login`, { method: 'POST', redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
  await r.arrayBuffer();
  return r.status;
}

async function load(base, seconds, user, password, backupPath) {
  const end = Date.now() + Number(seconds) * 1000;
  const out = { verifications: 0, verify_ms: [], backup_ms: null, logins: 0, login_status: {} };
  const v = await FrameConn.open(sock);
  const verifying = (async () => {
    for (let id = 1; Date.now() < end; id++) {
      const t = Date.now();
      const r = await v.call({ verb: 'audit.verify' }, { id, timeoutMs: 120000 });
      if (!r || !r.body.ok) throw new Error(`verify: ${JSON.stringify(r && r.body)}`);
      out.verifications++;
      out.verify_ms.push(Date.now() - t);
    }
  })();
  const b = await FrameConn.open(sock);
  const backup = (async () => {
    const t = Date.now();
    const r = await b.call({ verb: 'backup', path: backupPath }, { timeoutMs: 120000 });
    if (!r || !r.body.ok) throw new Error(`backup: ${JSON.stringify(r && r.body)}`);
    out.backup_ms = Date.now() - t;
  })();
  const logins = (async () => {
    for (let i = 0; Date.now() < end; i++) {
      const t = Date.now();
      const s = await login(base, user, i % 2 ? password : `${password}-wrong`);
      out.logins++;
      out.login_status[s] = (out.login_status[s] || 0) + 1;
      await new Promise((res) => setTimeout(res, Math.max(0, 50 - (Date.now() - t))));
    }
  })();
  await Promise.all([verifying, backup, logins]);
  v.close();
  b.close();
  console.log(JSON.stringify(out));
}

if (mode === 'fill') await fill(rest[0], rest[1], Number(rest[2]));
else if (mode === 'load') await load(...rest);
else {
  console.error('usage: mixed.mjs fill SOCKET ID SECRET N | load SOCKET BASE SECONDS USER PASSWORD PATH');
  process.exit(2);
}
