#!/usr/bin/env node
// Connect to a daemon socket as whoever runs this (tests run it under setpriv), send one
// "health" request frame and print what happened as one JSON line:
//   {"connected":bool, "error":str?, "reply":{...}?, "closed":bool}
import { FrameConn } from './frame.mjs';

const path = process.argv[2];
let conn;
try {
  conn = await FrameConn.open(path);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ connected: false, error: err.code || err.message, closed: true })}\n`);
  process.exit(0);
}
const rep = await conn.call({ verb: 'health' }, { id: 7, timeoutMs: 3000 });
const closed = rep ? await conn.waitClosed(1000) : conn.closed || await conn.waitClosed(1000);
process.stdout.write(`${JSON.stringify({ connected: true, reply: rep ? rep.body : null, closed })}\n`);
conn.close();
